/**
 * bzip2 through libbzip2 compiled to WebAssembly (@foxglove/wasm-bz2), one block at a time.
 *
 * Why this shape: no libbzip2 package on npm streams. The WebAssembly builds (@foxglove/wasm-bz2,
 * its fork @lichtblick/wasm-bz2) export only BZ2_bzBuffToBuffDecompress, a whole stream in one
 * call; node-bzip2 is one-shot too (and builds with cmake from a source tree its package does
 * not ship); unbzip2-stream streams but is pure JS at ~5 MiB/s. A bzip2 stream, though, is a
 * header ("BZh1".."BZh9"), independent blocks that each start with the 48-bit magic
 * 0x314159265359 and their own CRC, and an end-of-stream magic 0x177245385090 with the combined
 * CRC — bit-aligned, not byte-aligned. So, as lbzip2 and pbzip2 do, we find the block
 * boundaries, re-align each block into a one-block stream (its combined CRC is the block's CRC)
 * and let libbzip2 decode and CRC-check it; memory stays at about one block whatever the image
 * size. We check the combined CRC of the real stream ourselves, which catches a lost or
 * repeated block. A magic can also occur by chance inside compressed data (about once per
 * 2^48 bit positions): a segment that fails to decode is retried joined with the next one.
 */
import { createRequire } from 'node:module';
import { ZflashError } from '../errors.js';

const require = createRequire(import.meta.url);

const BLOCK_MAGIC = [0x314159, 0x265359] as const;
const EOS_MAGIC = [0x177245, 0x385090] as const;
/** A block decodes to at most 100 000·level bytes of RLE1 data, 5 of which give 255 bytes. */
const maxBlockOutput = (level: number): number => level * 100_000 * 51 + 1024;
/** No real compressed block is this big: bzip2 expands incompressible data by ~1 %. */
const maxBlockInput = (level: number): number => level * 100_000 * 1.25 + 1024;
/** Chance magics needed before we call the data damaged (one is already ~2^-48 per bit). */
const MAX_JOINS = 2;

/** A problem in the bzip2 data; `offset` is the byte of the file where the bad part starts. */
export class Bzip2FormatError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'Bzip2FormatError';
  }
}

/**
 * The Emscripten module inside @foxglove/wasm-bz2 (its `wasm/module`, typed by the package's
 * module.d.ts). We call it directly rather than through the package's `decompress()`, which
 * allocates the output in the wasm heap on every call and copies all of it out at once: a
 * block of zeros decodes to 46 MB, and a copy that size per block showed as 130 MiB of extra
 * resident memory. We keep one output area per decoder and copy out `pieceSize` at a time.
 */
interface Bz2Module {
  readonly HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  /** BZ2_bzBuffToBuffDecompress: code 0 and a view of the output, or a libbzip2 error. */
  decompress(
    dest: number,
    destSize: number,
    src: number,
    srcSize: number,
    small: number,
  ): { code: number; error?: string; buffer?: Uint8Array };
}

let wasm: Promise<Bz2Module> | undefined;

/** The WebAssembly libbzip2, instantiated once per process (≈1 MiB of wasm). */
function loadWasmBzip2(): Promise<Bz2Module> {
  wasm ??= (async () => {
    try {
      const factory = require('@foxglove/wasm-bz2/wasm/module') as () => Promise<Bz2Module>;
      return await factory();
    } catch (err) {
      wasm = undefined;
      throw new ZflashError(
        'bug',
        'ZFLASH_DECODER_MISSING',
        `The bzip2 decoder (@foxglove/wasm-bz2) could not be loaded: ${err instanceof Error ? err.message : String(err)}`,
        'This installation of Zeta Flash is incomplete. Reinstall it, or decompress the image yourself and choose the result.',
        { module: '@foxglove/wasm-bz2' },
        { cause: err },
      );
    }
  })();
  return wasm;
}

/** The 48 bits of a magic as they appear starting `shift` bits into a byte: 7 byte values. */
function shiftedBytes(magic: readonly [number, number], shift: number): number[] {
  const bits: number[] = [];
  for (const half of magic) for (let i = 23; i >= 0; i--) bits.push((half >> i) & 1);
  const out = new Array<number>(7).fill(0);
  bits.forEach((bit, i) => {
    const at = shift + i;
    out[at >> 3] = (out[at >> 3] ?? 0) | (bit << (7 - (at & 7)));
  });
  return out;
}

interface Needle {
  readonly eos: boolean;
  readonly shift: number;
  /** Bytes 1..5 of the shifted magic: whole bytes for every shift, so `indexOf` finds them. */
  readonly middle: Buffer;
  readonly first: number;
  readonly firstMask: number;
  readonly last: number;
  readonly lastMask: number;
}

const NEEDLES: readonly Needle[] = [false, true].flatMap((eos) =>
  Array.from({ length: 8 }, (_, shift) => {
    const b = shiftedBytes(eos ? EOS_MAGIC : BLOCK_MAGIC, shift);
    return {
      eos,
      shift,
      middle: Buffer.from(b.slice(1, 6)),
      first: b[0] ?? 0,
      firstMask: 0xff >> shift,
      last: b[6] ?? 0,
      lastMask: (0xff00 >> shift) & 0xff,
    };
  }),
);

interface Candidate {
  /** Bit position in the buffer where the magic starts. */
  readonly bit: number;
  readonly eos: boolean;
}

/** Reads `n` ≤ 32 bits at bit position `bit` (most significant bit first, as bzip2 writes). */
function bitsAt(buf: Buffer, bit: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const p = bit + i;
    v = v * 2 + (((buf[p >> 3] ?? 0) >> (7 - (p & 7))) & 1);
  }
  return v;
}

/** Copies bits [from, to) of `src` into `dst` starting at bit `at` (dst zero-filled there). */
function copyBits(src: Buffer, from: number, to: number, dst: Buffer, at: number): void {
  // Whole bytes at a time when the two alignments agree (the common path in a fresh buffer):
  // shift each source byte pair by the same amount.
  const shift = (from - at) & 7;
  let bit = from;
  let out = at;
  while (bit < to && (out & 7) !== 0) {
    const v = ((src[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1;
    dst[out >> 3] = (dst[out >> 3] ?? 0) | (v << (7 - (out & 7)));
    bit++;
    out++;
  }
  let i = bit >> 3;
  let o = out >> 3;
  const wholeBytes = (to - bit) >> 3;
  if (shift === 0) {
    src.copy(dst, o, i, i + wholeBytes);
  } else {
    for (let k = 0; k < wholeBytes; k++, i++, o++) {
      dst[o] = (((src[i] ?? 0) << shift) | ((src[i + 1] ?? 0) >> (8 - shift))) & 0xff;
    }
  }
  bit += wholeBytes * 8;
  out += wholeBytes * 8;
  for (; bit < to; bit++, out++) {
    const v = ((src[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1;
    dst[out >> 3] = (dst[out >> 3] ?? 0) | (v << (7 - (out & 7)));
  }
}

function writeBits(dst: Buffer, at: number, value: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const bit = Math.floor(value / 2 ** (n - 1 - i)) & 1;
    const p = at + i;
    dst[p >> 3] = (dst[p >> 3] ?? 0) | (bit << (7 - (p & 7)));
  }
}

/**
 * Bits [from, to) of `buf` — one block, magic included — as a complete one-block bzip2 stream
 * of the given level, whose combined CRC is the block's own CRC.
 */
function oneBlockStream(buf: Buffer, from: number, to: number, level: number): Buffer {
  const bits = 32 + (to - from) + 48 + 32;
  const out = Buffer.alloc(Math.ceil(bits / 8));
  out.write(`BZh${level}`, 0, 'latin1');
  copyBits(buf, from, to, out, 32);
  let at = 32 + (to - from);
  writeBits(out, at, EOS_MAGIC[0], 24);
  writeBits(out, at + 24, EOS_MAGIC[1], 24);
  at += 48;
  writeBits(out, at, bitsAt(buf, from + 48, 32), 32);
  return out;
}

export interface Bzip2Progress {
  /** Bytes of the file fully decoded (the start of the block being decoded). */
  compressedOffset: number;
}

/**
 * Decodes a bzip2 file (one or more concatenated streams) read from `source`, yielding the
 * uncompressed bytes block by block. Throws Bzip2FormatError for damaged or truncated data.
 */
export async function* decodeBzip2(
  source: AsyncIterable<Buffer>,
  pieceSize: number,
  progress: Bzip2Progress,
): AsyncGenerator<Buffer> {
  const bz = await loadWasmBzip2();
  let dest = 0;
  let destSize = 0;
  try {
    for await (const block of blocks(source, progress)) {
      const src = bz._malloc(block.stream.length);
      let length: number;
      try {
        if (destSize < block.maxOutput) {
          if (dest) bz._free(dest);
          dest = bz._malloc(block.maxOutput);
          destSize = dest ? block.maxOutput : 0;
        }
        if (!src || !dest) throw new Error('out of WebAssembly memory');
        bz.HEAPU8.set(block.stream, src);
        const r = bz.decompress(dest, destSize, src, block.stream.length, 0);
        if (r.code !== 0 || !r.buffer) throw new Error(r.error ?? `libbzip2 error ${r.code}`);
        length = r.buffer.length;
      } catch (err) {
        block.failed(err instanceof Error ? err.message : String(err));
        continue;
      } finally {
        bz._free(src);
      }
      block.decoded();
      // HEAPU8 is looked up for every piece: another decoder's malloc may grow the memory.
      for (let at = 0; at < length; at += pieceSize) {
        yield Buffer.from(bz.HEAPU8.subarray(dest + at, dest + Math.min(length, at + pieceSize)));
      }
    }
  } finally {
    if (dest) bz._free(dest);
  }
}

interface Segment {
  /** The segment as a one-block bzip2 stream. */
  readonly stream: Buffer;
  readonly maxOutput: number;
  /** It decoded: move past it. */
  decoded(): void;
  /** It did not: try it joined with the next segment, or give up. */
  failed(why: string): void;
}

/**
 * The block segments of the file, each offered until it decodes: a segment that fails is
 * offered again joined with the next one (a magic found by chance), up to MAX_JOINS times.
 */
async function* blocks(
  source: AsyncIterable<Buffer>,
  progress: Bzip2Progress,
): AsyncGenerator<Segment> {
  let buf = Buffer.alloc(0);
  /** File offset of buf[0]. */
  let base = 0;
  /** Bit position in buf of what comes next. */
  let pos = 0;
  let ended = false;
  let state: 'header' | 'magic' = 'header';
  let level = 0;
  let combined = 0;
  let streams = 0;
  /** Per needle: its first match at or after the last query, null for none in buf. */
  let hits: (Candidate | null | undefined)[] = [];

  const iterator = source[Symbol.asyncIterator]();
  const more = async (): Promise<boolean> => {
    if (ended) return false;
    const r = await iterator.next();
    if (r.done) {
      ended = true;
      return false;
    }
    // Keep only what is not decoded yet: from the byte holding `pos`.
    const keep = pos >> 3;
    buf = Buffer.concat([buf.subarray(keep), r.value]);
    base += keep;
    pos -= keep * 8;
    hits = [];
    return true;
  };
  const fail = (message: string, bit = pos): never => {
    throw new Bzip2FormatError(message, base + (bit >> 3));
  };

  /** The first magic of either kind starting at bit `from` or later, if buf holds one whole. */
  const nextMagic = (from: number): Candidate | null => {
    let best: Candidate | null = null;
    NEEDLES.forEach((n, k) => {
      let hit = hits[k];
      if (hit === undefined || (hit !== null && hit.bit < from)) {
        hit = null;
        // The middle bytes of a magic starting in byte b sit at b + 1.
        let i = buf.indexOf(n.middle, (from >> 3) + 1);
        while (i >= 1) {
          const bit = (i - 1) * 8 + n.shift;
          // Not all of it arrived yet: look again after the next read.
          if (n.shift !== 0 && i + 5 >= buf.length) break;
          if (
            bit >= from &&
            ((buf[i - 1] ?? 0) & n.firstMask) === n.first &&
            (n.shift === 0 || ((buf[i + 5] ?? 0) & n.lastMask) === n.last)
          ) {
            hit = { bit, eos: n.eos };
            break;
          }
          i = buf.indexOf(n.middle, i + 1);
        }
        hits[k] = hit;
      }
      if (hit && (!best || hit.bit < best.bit)) best = hit;
    });
    return best;
  };

  try {
    yield* segments();
  } finally {
    // Stop the source too when the consumer stops early or the data is bad.
    await iterator.return?.().catch(() => undefined);
  }

  async function* segments(): AsyncGenerator<Segment> {
    for (;;) {
      if (state === 'header') {
        // Streams start on a byte boundary: "BZh" and the level, or the end of the file.
        pos = Math.ceil(pos / 8) * 8;
        while (buf.length - (pos >> 3) < 4 && (await more()));
        const at = pos >> 3;
        if (buf.length - at === 0 && ended) {
          if (streams === 0) fail('the file holds no bzip2 stream');
          return;
        }
        const lv = (buf[at + 3] ?? 0) - 0x30;
        if (buf.toString('latin1', at, at + 3) !== 'BZh' || lv < 1 || lv > 9) {
          fail(
            streams === 0
              ? 'it does not start with a bzip2 header'
              : 'unexpected data follows the end of the bzip2 stream',
          );
        }
        level = lv;
        combined = 0;
        streams += 1;
        pos += 32;
        state = 'magic';
        continue;
      }

      // At a block or end-of-stream magic.
      while (buf.length * 8 - pos < 48 + 32 && (await more()));
      if (buf.length * 8 - pos < 48 + 32) fail('the file ends inside the stream (truncated)');
      const hi = bitsAt(buf, pos, 24);
      const lo = bitsAt(buf, pos + 24, 24);
      if (hi === EOS_MAGIC[0] && lo === EOS_MAGIC[1]) {
        const stored = bitsAt(buf, pos + 48, 32);
        if (stored !== combined) {
          fail('the combined CRC of the stream does not match its blocks (a block is missing)');
        }
        pos += 80;
        state = 'header';
        continue;
      }
      if (hi !== BLOCK_MAGIC[0] || lo !== BLOCK_MAGIC[1])
        fail('a block does not start with its magic');

      progress.compressedOffset = base + (pos >> 3);
      // The block ends where the next magic starts. `more()` may move the buffer, and `pos`
      // with it, so the search position is kept relative to the block's start.
      let searchFrom = 48 + 32;
      let joins = 0;
      let done = false;
      while (!done) {
        let end = nextMagic(pos + searchFrom);
        while (end === null) {
          if (buf.length - (pos >> 3) > maxBlockInput(level)) {
            fail('a block is longer than bzip2 ever makes one (the data is damaged)');
          }
          if (!(await more())) fail('the file ends in the middle of a block (truncated)');
          end = nextMagic(pos + searchFrom);
        }
        const endBit = end.bit;
        let why: string | null = null;
        yield {
          stream: oneBlockStream(buf, pos, endBit, level),
          maxOutput: maxBlockOutput(level),
          decoded: () => {
            done = true;
          },
          failed: (message) => {
            why = message;
          },
        };
        if (done) {
          combined = (((combined << 1) | (combined >>> 31)) ^ bitsAt(buf, pos + 48, 32)) >>> 0;
          pos = endBit;
        } else {
          const reason = why ?? 'not decoded';
          if (++joins > MAX_JOINS || (endBit - pos) / 8 > maxBlockInput(level)) {
            fail(`a block does not decode (${reason})`);
          }
          searchFrom = endBit - pos + 1;
        }
      }
    }
  }
}
