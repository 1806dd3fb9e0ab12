import * as fs from 'fs';
import * as path from 'path';
import { PathEscapeError } from '../errors';

/**
 * Resolves `rel` inside `baseDir`, refusing absolute paths, `..` escapes and
 * symlinks that lead outside `baseDir`. `what` names the referring file in errors.
 */
export function resolveInside(baseDir: string, rel: string, what: string): string {
  if (rel === '' || path.isAbsolute(rel) || /^[a-zA-Z]:[\\/]/.test(rel) || rel.includes('\0')) {
    throw new PathEscapeError(`refusing path '${rel}': it must be relative to the model folder`, what);
  }
  const base = path.resolve(baseDir);
  const full = path.resolve(base, rel);
  if (full !== base && !full.startsWith(base + path.sep)) {
    throw new PathEscapeError(`refusing path '${rel}': it escapes the model folder`, what);
  }
  if (fs.existsSync(full)) {
    const realBase = fs.realpathSync(base);
    const real = fs.realpathSync(full);
    if (real !== realBase && !real.startsWith(realBase + path.sep)) {
      throw new PathEscapeError(`refusing path '${rel}': it links outside the model folder`, what);
    }
  }
  return full;
}
