/**
 * Mini-batch Adam (Kingma & Ba 2015) with decoupled weight decay, for the
 * classifier's small dense heads: gradients are summed into `grads` example by
 * example, and `step` applies their mean.
 */
export interface AdamOptions {
  lr: number;
  /** decoupled weight decay per step, times lr (not applied to the tensors in `noDecay`) */
  l2: number;
}

export class Adam {
  readonly grads: Float64Array[];
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  private steps = 0;

  constructor(
    private readonly params: Float64Array[],
    private readonly opts: AdamOptions,
    private readonly noDecay: ReadonlySet<Float64Array> = new Set(),
  ) {
    this.grads = params.map((p) => new Float64Array(p.length));
    this.m = params.map((p) => new Float64Array(p.length));
    this.v = params.map((p) => new Float64Array(p.length));
  }

  /** Applies the mean of the gradients summed over `count` examples, then zeroes them. */
  step(count: number): void {
    const { lr, l2 } = this.opts;
    const b1 = 0.9;
    const b2 = 0.999;
    this.steps++;
    const c1 = 1 - Math.pow(b1, this.steps);
    const c2 = 1 - Math.pow(b2, this.steps);
    const scale = 1 / count;
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k];
      const gr = this.grads[k];
      const m = this.m[k];
      const v = this.v[k];
      const decay = this.noDecay.has(p) ? 0 : lr * l2;
      for (let i = 0; i < p.length; i++) {
        const gi = gr[i] * scale;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + 1e-8) + decay * p[i];
        gr[i] = 0;
      }
    }
  }
}
