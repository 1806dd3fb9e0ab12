import * as fs from 'fs';
import * as path from 'path';
import { loadModel, modelFiles, modelRoot } from '../formats';
import { inspectModel } from './inspect';
import type { InspectReport } from './report';

/** Loads the model at `p` and inspects it, with file paths relative to the model's folder (what `mc inspect` reports). */
export function inspectPath(p: string): InspectReport {
  const model = loadModel(p);
  const root = modelRoot(p);
  const baseDir = fs.statSync(root).isDirectory() ? root : path.dirname(root);
  return inspectModel(model, modelFiles(p, model), { baseDir: path.resolve(baseDir) });
}
