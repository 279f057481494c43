/** Timers of the loops that run beside a job (heartbeats, Spot checks), stopped all at once. */
export class Loops {
  private readonly ctl = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();

  /** Aborted when the loops are stopped: a call in flight should give up. */
  public get signal(): AbortSignal {
    return this.ctl.signal;
  }

  /** Run `fn` in `ms`, unless the loops are stopped by then (or already). */
  public schedule(fn: () => void, ms: number): void {
    if (this.ctl.signal.aborted) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Stop every loop: pending timers are cleared and {@link signal} aborts. */
  public stop(): void {
    this.ctl.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
