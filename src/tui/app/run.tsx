/**
 * Run the TUI on the real terminal: the alternate screen (the shell's
 * screen comes back on exit), the terminal size (tracked before ink sees a
 * resize: the screen is cleared and the frame redrawn for the new size),
 * the graphics overlay for kitty/iTerm2/sixel, and cleanup on every way
 * out.
 */
import { render } from 'ink';
import type { TuiController } from './controller.js';
import { TuiApp, type SizeSource, type TerminalSize } from './app.js';
import type { GraphicsChoice } from '../image/detect.js';
import { GraphicsOverlay } from '../image/overlay.js';
import { Screen } from './screen.js';
import { BLOCK_CELL, type CellSize } from '../image/resample.js';

const ALT_ON = '\x1b[?1049h\x1b[H\x1b[2J';
const ALT_OFF = '\x1b[?1049l';
const SHOW_CURSOR = '\x1b[?25h';

/** Terminal size, updated on 'resize' before anyone else hears of it (register before ink renders). */
export function terminalSizeSource(stdout: NodeJS.WriteStream, onResize: () => void = () => undefined): SizeSource & { dispose(): void } {
  let size: TerminalSize = { columns: stdout.columns || 80, rows: stdout.rows || 24 };
  const listeners = new Set<() => void>();
  const handler = () => {
    size = { columns: stdout.columns || 80, rows: stdout.rows || 24 };
    onResize();
    for (const fn of [...listeners]) fn();
  };
  stdout.on('resize', handler);
  return {
    get: () => size,
    subscribe: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    dispose: () => {
      stdout.off('resize', handler);
    },
  };
}

/**
 * Ask the terminal for its cell size in pixels (CSI 16 t, answered with
 * CSI 6 ; height ; width t); null when it does not answer in time.
 */
export async function queryCellSize(stdin: NodeJS.ReadStream, stdout: NodeJS.WriteStream, timeoutMs = 200): Promise<CellSize | null> {
  if (!stdin.isTTY || !stdout.isTTY) return null;
  const wasRaw = stdin.isRaw;
  stdin.setRawMode(true);
  // 'readable' and read(), as ink reads: a 'data' listener and pause() would leave the stream
  // unable to restart when ink attaches. Bytes that are not the answer (keys typed meanwhile) are lost.
  let onReadable = () => undefined as void;
  try {
    return await new Promise<CellSize | null>((resolve) => {
      let buf = '';
      const timer = setTimeout(() => resolve(null), timeoutMs);
      onReadable = () => {
        let chunk: Buffer | string | null;
        while ((chunk = stdin.read() as Buffer | string | null) !== null) buf += chunk.toString();
        const m = /\x1b\[6;(\d+);(\d+)t/.exec(buf);
        if (m) {
          clearTimeout(timer);
          resolve({ width: Number(m[2]), height: Number(m[1]) });
        }
      };
      stdin.on('readable', onReadable);
      stdout.write('\x1b[16t');
    });
  } finally {
    stdin.off('readable', onReadable);
    stdin.setRawMode(wasRaw);
  }
}

export interface RunOptions {
  controller: TuiController;
  graphics: GraphicsChoice;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
}

/** Show the TUI until the user quits; the controller (and its model) is disposed on the way out. */
export async function runTui({ controller, graphics, stdin = process.stdin, stdout = process.stdout }: RunOptions): Promise<void> {
  const mode = graphics.mode;
  let cell: CellSize = BLOCK_CELL;
  if (mode === 'sixel') cell = (await queryCellSize(stdin, stdout)) ?? { width: 10, height: 20 };
  const overlay = mode === 'blocks' ? undefined : new GraphicsOverlay(mode);
  const screen = new Screen(stdout, overlay);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    stdout.write((overlay?.dispose() ?? '') + SHOW_CURSOR + ALT_OFF);
  };
  process.once('exit', restore);
  // Killed or hung up: put the terminal back before going.
  const onSignal = (sig: NodeJS.Signals) => {
    restore();
    process.exit(sig === 'SIGHUP' ? 129 : 143);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  stdout.write(ALT_ON);
  // The old frame is garbage at a new size: start from a clean screen, then the new frame is drawn whole.
  const size = terminalSizeSource(stdout, () => screen.invalidate());
  // ink lays out the whole frame for every spinner tick: on a slow machine or a huge terminal the
  // spinner waits three frame-times between ticks, so redraws stay under a third of the thread.
  let renderMs = 0;
  const tickDelay = () => 3 * renderMs;
  try {
    const app = render(
      <TuiApp controller={controller} graphics={mode} trueColor={graphics.trueColor} overlay={overlay} cell={cell} sizeSource={size} tickMs={mode === 'iterm' || mode === 'sixel' ? 250 : 100} tickDelay={tickDelay} />,
      {
        stdout: screen.wrap(stdout),
        stdin,
        exitOnCtrlC: false,
        patchConsole: true,
        incrementalRendering: false,
        onRender: ({ renderTime }) => {
          renderMs = 0.8 * renderMs + 0.2 * renderTime;
        },
      },
    );
    await app.waitUntilExit();
  } finally {
    size.dispose();
    restore();
    process.off('exit', restore);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    await controller.dispose();
  }
}
