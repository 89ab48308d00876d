/**
 * Half-block images go through ink as placeholders, not as text. ink
 * parses every character of its output on every frame (grapheme
 * segmentation, style tracking), and a half-block image row is ~40 bytes of
 * colour codes per cell: a 200x60 terminal took ink about half a second a
 * frame. So an image row is registered here and ink lays out a
 * placeholder of the same width made of private-use characters (one
 * narrow cell each: a marker, the row's id, padding); the Screen
 * (src/tui/app/screen.ts) swaps the real rows in on the way to the
 * terminal. ink's work no longer depends on the colours.
 *
 * A placeholder is printable ASCII (a backtick, the row's id in base 36,
 * tildes up to the width), which ink measures and lays out fastest (2-3x
 * faster than private-use characters). Text from outside (file names,
 * messages) goes through `safeText`, which turns backticks into
 * apostrophes, so it can never be taken for a placeholder.
 */

const MARK = '`';
const PAD = '~';
const PATTERN = /`([0-9a-z]+)~*/g;

/**
 * Rows kept, least recently used dropped first. Every render of a pane
 * uses its rows again, and a frame shows a few hundred rows at most, so
 * rows on screen are never dropped.
 */
const CAPACITY = 3000;
const byId = new Map<number, string>();
const byLine = new Map<string, number>();
let nextId = 1;

function encodeId(id: number): string {
  return id.toString(36);
}

function decodeId(s: string): number {
  return parseInt(s, 36);
}

/** Text from outside (file names, messages) made safe to show: no placeholder can start in it. */
export function safeText(text: string): string {
  return text.includes(MARK) ? text.replaceAll(MARK, "'") : text;
}

/**
 * A placeholder `width` cells wide standing for `line` (an image row of
 * exactly `width` cells, ending in a colour reset); `line` itself when
 * the width is too small to hold an id.
 */
export function placeholderFor(line: string, width: number): string {
  let id = byLine.get(line);
  if (id === undefined) {
    id = nextId++;
    byId.set(id, line);
  } else {
    byLine.delete(line); // to the back of the queue
  }
  byLine.set(line, id);
  while (byLine.size > CAPACITY) {
    const [oldLine, oldId] = byLine.entries().next().value as [string, number];
    byLine.delete(oldLine);
    byId.delete(oldId);
  }
  const code = MARK + encodeId(id);
  return code.length > width ? line : code + PAD.repeat(width - code.length);
}

/** The text with every placeholder replaced by its row (or blanks, if the row is gone). */
export function expandPlaceholders(text: string): string {
  if (!text.includes(MARK)) return text;
  return text.replace(PATTERN, (m, digits: string) => byId.get(decodeId(digits)) ?? ' '.repeat(m.length));
}
