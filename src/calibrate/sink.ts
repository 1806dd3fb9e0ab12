/**
 * How activations leave a calibration run: every exposed tensor of every
 * batch reaches each sink as (name, values, shape), on the main thread,
 * before the batch is dropped. Range statistics are one sink
 * (statistics.ts); a pass that needs its own statistics implements this
 * interface and is handed to collectStatistics:
 *
 *   // the Gram matrix XᵀX of a MatMul's input X [..., K] (GPTQ's H = 2XᵀX)
 *   class GramSink implements ActivationSink {
 *     readonly tensors = ['fc1_in'];
 *     readonly gram = new Float64Array(K * K);
 *     observe(name, data, shape) {
 *       const k = shape[shape.length - 1];
 *       for (let r = 0; r < data.length / k; r++) ... gram[i*k+j] += data[r*k+i] * data[r*k+j];
 *     }
 *   }
 *   const sink = new GramSink();
 *   await collectStatistics(model, [], 'calib.npy', { kinds: [], sinks: [sink] });
 *
 * The values are onnxruntime's output buffer: read them during observe() and
 * copy what must outlive the call (the buffer may be handed to another thread
 * or reused afterwards). A sink's tensors are exposed as extra model outputs,
 * so asking for one costs a copy out of onnxruntime per batch.
 */
export interface ActivationSink {
  /** Main-graph float32 tensors (activations or graph inputs) this sink wants to see. */
  readonly tensors: readonly string[];
  /** One tensor of one batch; `shape` includes the batch axis. */
  observe(name: string, data: Float32Array, shape: readonly number[]): void;
}
