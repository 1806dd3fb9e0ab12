import { defineCommand } from '../command';
import { inspectPath } from '../../inspect';
import { renderInspect } from '../render/inspect';

export interface InspectCliOptions {
  model: string;
  json: boolean;
}

export const inspectCommand = defineCommand<InspectCliOptions>({
  name: 'inspect',
  configure: (cmd) => cmd
    .description('summarize a model: format, ops, parameters, bytes by dtype, inputs/outputs, stored quantization')
    .argument('<model>', 'a .onnx file, a tfjs model.json, or a folder containing model.json')
    .option('--json', 'print the report as JSON on stdout (fields documented in README.md)'),
  parse: ([model], flags) => ({ model, json: flags.json === true }),
  run: (o, ctx) => {
    const spinner = ctx.progress(`reading ${o.model}`);
    let text: string;
    try {
      const report = inspectPath(o.model);
      spinner.stop();
      text = o.json ? JSON.stringify(report, null, 2) + '\n' : renderInspect(o.model, report, ctx.chalk);
    } catch (e) {
      spinner.stop();
      throw e;
    }
    ctx.io.stdout.write(text);
    return 0;
  },
});
