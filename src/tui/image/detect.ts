/**
 * Which way to draw images, from the environment: the kitty graphics
 * protocol, iTerm2 inline images, sixel, or coloured half-blocks (which
 * every terminal shows). Terminals do not announce graphics support in a
 * standard way, so this reads the variables they set; `--graphics` (or
 * ALAE_GRAPHICS) overrides it.
 */
import { AlaeError } from '../../errors.js';

export type GraphicsMode = 'kitty' | 'iterm' | 'sixel' | 'blocks';
export const GRAPHICS_MODES: readonly GraphicsMode[] = ['kitty', 'iterm', 'sixel', 'blocks'];

export interface GraphicsChoice {
  mode: GraphicsMode;
  /** For blocks: 24-bit colour, else the 256-colour palette. */
  trueColor: boolean;
  /** Why (shown in the help overlay). */
  reason: string;
}

type Env = Record<string, string | undefined>;

const SIXEL_TERMS = /^(foot|mlterm|contour|yaft|xterm-sixel)/;

/** Does the terminal take 24-bit colour SGR? Most do; Apple's Terminal.app and the Linux console do not. */
export function supportsTrueColor(env: Env): boolean {
  const ct = (env.COLORTERM ?? '').toLowerCase();
  if (ct === 'truecolor' || ct === '24bit') return true;
  if (env.TERM_PROGRAM === 'Apple_Terminal') return false;
  if (/^(linux|vt\d+|ansi|dumb)$/.test(env.TERM ?? '')) return false;
  return true;
}

export function parseGraphicsMode(text: string): GraphicsMode {
  if ((GRAPHICS_MODES as readonly string[]).includes(text)) return text as GraphicsMode;
  throw new AlaeError(`--graphics must be one of ${GRAPHICS_MODES.join(', ')} (got '${text}')`);
}

export function detectGraphics(env: Env = process.env, override?: string): GraphicsChoice {
  const trueColor = supportsTrueColor(env);
  const forced = override ?? env.ALAE_GRAPHICS;
  if (forced) return { mode: parseGraphicsMode(forced), trueColor, reason: override ? '--graphics' : 'ALAE_GRAPHICS' };
  const term = env.TERM ?? '';
  const program = env.TERM_PROGRAM ?? '';
  // Inside tmux or screen the escapes would need passthrough and the multiplexer
  // would not know the cells are taken: half-blocks are the safe choice there.
  if (env.TMUX || env.STY || /^(screen|tmux)/.test(term)) return { mode: 'blocks', trueColor, reason: 'inside tmux/screen' };
  if (env.KITTY_WINDOW_ID || term === 'xterm-kitty') return { mode: 'kitty', trueColor, reason: 'kitty' };
  if (program === 'ghostty' || term === 'xterm-ghostty' || env.GHOSTTY_RESOURCES_DIR) return { mode: 'kitty', trueColor, reason: 'Ghostty' };
  if (program === 'iTerm.app' || env.LC_TERMINAL === 'iTerm2') return { mode: 'iterm', trueColor, reason: 'iTerm2' };
  if (program === 'WezTerm' || env.WEZTERM_PANE) return { mode: 'iterm', trueColor, reason: 'WezTerm' };
  if (program === 'mintty') return { mode: 'iterm', trueColor, reason: 'mintty' };
  if (env.KONSOLE_VERSION) return { mode: 'kitty', trueColor, reason: 'Konsole' };
  if (SIXEL_TERMS.test(term) || program === 'mlterm' || program === 'contour') return { mode: 'sixel', trueColor, reason: `sixel terminal (${term || program})` };
  return { mode: 'blocks', trueColor, reason: 'no graphics protocol detected' };
}
