/**
 * Data readers for calibration, evaluation and saliency pruning.
 *
 *   const ds = openDataset('calib.npz', { inputs: model.inputs });   // InputSpec[]
 *   const { fixedBatch } = validateAgainst(ds, model.inputs);         // one-line InputError on mismatch
 *   for (const batch of ds.batches(fixedBatch ?? 32, samples)) {      // sync Iterable, sample order
 *     batch.inputs.get('x')  // { dtype, shape: [count, ...], data: typed array view }
 *   }
 *   const labels = openLabels('labels.npy');
 *   checkLabelCount(labels, ds);
 *   for (const lb of labels.batches(32, samples)) lb.ids;             // Int32Array, aligned with ds batches
 *
 * Sources (see openDataset):
 *   - .npy (versions 1.0, 2.0, 3.0; little-endian, C order; float16/32/64,
 *     int8..64, uint8..64, bool): the model's single input. Each batch is one
 *     positioned read of its byte range; the file is never read whole.
 *   - .npz (numpy savez / savez_compressed): entry `x.npy` feeds input `x`.
 *     Stored entries are read by range like .npy; deflated entries are
 *     inflated as a stream, holding about one batch of bytes.
 *   - a folder with test_data_set_k/input_i.pb (ONNX backend test layout):
 *     each set is one batch of its tensors' leading dim; batchSize is ignored.
 *   - any other folder: .png/.jpg/.jpeg images in file-name order, turned into
 *     float32 by PreprocessOptions (parsePreprocess reads the CLI form).
 *
 * The first axis is always the sample axis. The only implicit conversion is
 * float16 → float32 when a model input wants float32 (it is exact); uint8
 * pixels become float32 only through image preprocessing. An .npy/.npz array
 * whose shape differs from the model input's only by where size-1 axes sit
 * (NCHW data with C = 1 for an NHWC model) is viewed in the model's shape: the
 * same bytes, no copy; describe() gives the stored shape as storedShape. Everything is sync:
 * the files are local, and a consumer may await inside its for…of loop.
 */
export type { Batch, BatchTensor, DataDType, Dataset, DatasetOptions, InputDescription, InputSpec } from './types';
export { openDataset } from './open';
export { unitAxesView, validateAgainst } from './validate';
export type { Validation } from './validate';
export { openLabels, checkLabelCount } from './labels';
export type { Labels, LabelBatch, LabelOptions } from './labels';
export { parsePreprocess, resolvePreprocess, preprocessImage, sampleShape } from './preprocess';
export type { PreprocessOptions, ResolvedPreprocess, Layout, Channels, RgbaImage } from './preprocess';
export { resizeBilinear } from './resize';
export { decodeImage } from './images';
export { parseNpyHeader } from './npy';
export type { NpyHeader } from './npy';
