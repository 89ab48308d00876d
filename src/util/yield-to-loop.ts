/**
 * Let timers, signals and I/O run between batches. On the CPU backends
 * `await tensor.data()` resolves as a microtask, so a loop of batches never
 * returns to the event loop otherwise: progress lines, Ctrl-C, a TUI and a
 * test runner's heartbeat would all wait for the whole job.
 */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
