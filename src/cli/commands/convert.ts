import { defineCommand } from '../command';
import { UsageError } from '../../errors';
import { convertModel } from '../../formats';
import { formatBytes } from '../format';

/** Tensors of at least this many bytes go to the external data file when --external-data has no value. */
export const DEFAULT_EXTERNAL_DATA_THRESHOLD = 1024;

export interface ConvertCliOptions {
  input: string;
  output: string;
  /** false: everything inside the .onnx; otherwise the size threshold in bytes. */
  externalData: false | { threshold: number };
  force: boolean;
  json: boolean;
}

export const convertCommand = defineCommand<ConvertCliOptions>({
  name: 'convert',
  configure: (cmd) => cmd
    .description('re-save a model through mc (ONNX → ONNX, tfjs → tfjs), e.g. to move weights to external data')
    .argument('<in>', 'input model (.onnx, model.json or its folder)')
    .requiredOption('-o, --output <path>', 'output .onnx file, or output folder for tfjs')
    .option('--external-data [threshold]', `ONNX: store tensors of at least <threshold> bytes (default ${DEFAULT_EXTERNAL_DATA_THRESHOLD}) in <output>.data`)
    .option('--force', 'allow the output to replace the input')
    .option('--json', 'print the result as JSON on stdout'),
  parse: ([input], flags) => ({
    input,
    output: String(flags.output),
    externalData: parseExternalData(flags.externalData),
    force: flags.force === true,
    json: flags.json === true,
  }),
  run: (o, ctx) => {
    const result = convertModel(o);
    if (o.json) {
      ctx.io.stdout.write(JSON.stringify(result, null, 2) + '\n');
    } else {
      const c = ctx.chalk;
      const n = result.files.length;
      ctx.io.stdout.write(`${c.green('wrote')} ${result.output} (${n} ${n === 1 ? 'file' : 'files'}, ${formatBytes(result.totalBytes)}; input ${formatBytes(result.inputBytes)})\n`);
    }
    return 0;
  },
});

function parseExternalData(v: unknown): ConvertCliOptions['externalData'] {
  if (v === undefined || v === false) return false;
  if (v === true) return { threshold: DEFAULT_EXTERNAL_DATA_THRESHOLD };
  const s = String(v);
  if (!/^\d+$/.test(s)) throw new UsageError(`--external-data threshold must be a whole number of bytes, got '${s}'`);
  return { threshold: Number(s) };
}
