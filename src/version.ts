import * as fs from 'fs';
import * as path from 'path';

/**
 * The mc version from package.json. Read at run time rather than imported so
 * the same code works from src/ (ts-jest) and dist/ (built): both sit one
 * folder below the package root, and package.json stays outside tsc's rootDir.
 */
function readVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error('package.json has no version');
  return pkg.version;
}

export const VERSION: string = readVersion();
