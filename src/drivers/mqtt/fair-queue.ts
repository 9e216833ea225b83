/**
 * A bounded work queue that takes its waiting tasks in turn per key (round robin): with authentications
 * keyed by source address, a burst from one address waits behind its own attempts, not in front of
 * everyone else's.
 */
export class FairQueue {
  readonly #concurrency: number;
  readonly #maxWaiting: number;
  #running = 0;
  #waiting = 0;
  #isDraining = false;
  /** Waiting tasks per key; the map's order is the turn order. */
  readonly #byKey = new Map<string, Array<() => void>>();

  constructor(opts: { concurrency: number; maxWaiting: number }) {
    if (!(opts.concurrency >= 1)) throw new RangeError("concurrency must be at least 1");
    this.#concurrency = opts.concurrency;
    this.#maxWaiting = opts.maxWaiting;
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Runs `task` now, or once a slot is free and its key's turn has come. The task MUST call the `done` it
   * is given once it has finished (further calls are ignored). Returns false, and never runs the task, when
   * `maxWaiting` tasks already wait.
   */
  submit(key: string, task: (done: () => void) => void): boolean {
    const start = () => {
      this.#running++;
      let isDone = false;
      task(() => {
        if (isDone) return;
        isDone = true;
        this.#running--;
        this.#next();
      });
    };
    if (this.#running < this.#concurrency) {
      start();
      return true;
    }
    if (this.#waiting >= this.#maxWaiting) return false;
    let queue = this.#byKey.get(key);
    if (!queue) {
      queue = [];
      this.#byKey.set(key, queue);
    }
    queue.push(start);
    this.#waiting++;
    return true;
  }

  #next(): void {
    // a task that finishes at once (an attempt refused without work) would otherwise start the next from
    // inside itself, one stack frame deeper per waiting task
    if (this.#isDraining) return;
    this.#isDraining = true;
    try {
      while (this.#running < this.#concurrency) {
        const turn = this.#byKey.entries().next();
        if (turn.done) return;
        const [key, queue] = turn.value;
        const start = queue.shift()!;
        // the key goes to the back of the turn order, or away when it has nothing left
        this.#byKey.delete(key);
        if (queue.length > 0) this.#byKey.set(key, queue);
        this.#waiting--;
        start();
      }
    } finally {
      this.#isDraining = false;
    }
  }
}
