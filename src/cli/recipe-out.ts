/** `--recipe-out`: the command's flags written as a recipe file (src/plan/canonical.ts recipeYaml). */
import * as fs from 'fs';
import * as path from 'path';
import { recipeYaml, type Plan } from '../plan';
import { writeFileAtomic } from '../util/atomic';

export function writeRecipe(plan: Plan, file: string, command: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, recipeYaml(plan, path.dirname(file), `${command} --recipe-out ${path.basename(file)}`));
}
