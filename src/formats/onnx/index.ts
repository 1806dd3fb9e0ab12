/**
 * ONNX reader/writer. The only place in mc that touches protobufjs.
 * Lossless: decode → IR → encode gives the same ModelProto message back.
 */
export { decodeOnnx, encodeOnnx, decodeTensorProto, encodeTensorProto, PROTOBUF_LIMIT } from './codec';
export type { DecodeOptions } from './codec';
export { loadOnnx, saveOnnx, stageOnnx } from './io';
export type { OnnxSaveOptions, ExternalDataOptions } from './io';
export { dtypeFromOnnx, dtypeToOnnx } from './dtype';
export { externalDataStats } from './external-data';
export type { OnnxTensorStorage } from './tensor-codec';
