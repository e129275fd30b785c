/**
 * Merlin's samples file (`merlin.samples.file`) read as Merlin reads it (merlin/utils.py
 * `load_array_file`): `.npy` as NumPy's binary array, `.csv` comma-separated and `.tab`
 * whitespace-separated text, each row a sample and each column one of `column_labels`. Values
 * become the text Python's `str()` gives the element, which is what Merlin substitutes.
 *
 * Bytes in, table out: the app reads the file. Numeric .npy data stays in its typed array and is
 * formatted on demand, so a million samples cost their bytes, not a million strings.
 */
import { pyFloatRepr } from './py-values.js';

/** Samples: `count` rows of `columns` values, each as the text Merlin puts in a command. */
export interface SampleTable {
  readonly count: number;
  readonly columns: number;
  value(row: number, column: number): string;
}

/** Why a samples file cannot be read; the app adds the file name and the spec's position. */
export class SampleFileError extends Error {
  override readonly name = 'SampleFileError';
}

/** The file kinds Merlin reads, by extension. */
export const SAMPLE_FILE_KINDS = ['npy', 'csv', 'tab'] as const;
export type SampleFileKind = (typeof SAMPLE_FILE_KINDS)[number];

export function sampleFileKind(file: string): SampleFileKind | undefined {
  const ext = /\.([^./]+)$/.exec(file)?.[1];
  return (SAMPLE_FILE_KINDS as readonly string[]).includes(ext ?? '') ? (ext as SampleFileKind) : undefined;
}

/** Parses a samples file of the given kind. Throws SampleFileError. */
export function parseSampleFile(kind: SampleFileKind, bytes: Uint8Array): SampleTable {
  if (kind === 'npy') return parseNpy(bytes);
  return parseTextSamples(new TextDecoder().decode(bytes), kind === 'csv' ? ',' : undefined);
}

/**
 * `np.loadtxt(file, delimiter=..., ndmin=2, dtype=str)`: one row per line that is not blank or a
 * `#` comment, every row as long as the first. A one-line file is one sample.
 */
export function parseTextSamples(text: string, delimiter: string | undefined): SampleTable {
  const rows: string[][] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const cells = delimiter === undefined ? line.split(/\s+/) : line.split(delimiter).map((c) => c.trim());
    if (rows.length > 0 && cells.length !== rows[0]!.length) {
      throw new SampleFileError(
        `line ${n + 1} has ${cells.length} values, the rows before it ${rows[0]!.length}; every row must have one value per column label`,
      );
    }
    rows.push(cells);
  }
  const columns = rows[0]?.length ?? 0;
  return { count: rows.length, columns, value: (r, c) => rows[r]![c]! };
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

interface NpyHeader {
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
}

/** A NumPy `.npy` file (format versions 1-3) of booleans, integers or floats, 1-D or 2-D. */
export function parseNpy(bytes: Uint8Array): SampleTable {
  if (bytes.length < 10 || NPY_MAGIC.some((b, k) => bytes[k] !== b)) {
    throw new SampleFileError('not a NumPy .npy file (it does not start with \\x93NUMPY)');
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major < 1 || major > 3)
    throw new SampleFileError(`.npy format version ${major} is not one this reader knows (1, 2 or 3)`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) throw new SampleFileError('the .npy header is cut short');
  const header = parseNpyHeader(
    new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart)),
  );
  const element = npyElement(header.descr);
  if (header.shape.length < 1 || header.shape.length > 2) {
    throw new SampleFileError(
      `the array has shape (${header.shape.join(', ')}); samples are a 2-D array (samples x columns) or a 1-D array (one column)`,
    );
  }
  const count = header.shape[0]!;
  const columns = header.shape[1] ?? 1;
  const needed = dataStart + count * columns * element.size;
  if (bytes.length < needed) {
    throw new SampleFileError(`the file holds ${bytes.length} bytes, its header promises ${needed}`);
  }
  const at = header.fortranOrder
    ? (r: number, c: number): number => dataStart + (c * count + r) * element.size
    : (r: number, c: number): number => dataStart + (r * columns + c) * element.size;
  return { count, columns, value: (r, c) => element.read(view, at(r, c)) };
}

function parseNpyHeader(text: string): NpyHeader {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shape === undefined) {
    throw new SampleFileError(
      `the .npy header ${JSON.stringify(text.trim())} lacks descr, fortran_order or shape; structured arrays are not supported`,
    );
  }
  const dims = shape
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '')
    .map(Number);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw new SampleFileError(`the .npy shape (${shape}) is not a list of sizes`);
  return { descr, fortranOrder: fortran === 'True', shape: dims };
}

interface NpyElement {
  readonly size: number;
  read(view: DataView, offset: number): string;
}

/** NumPy dtype strings this reader takes: byte order `<`, `>` or `|`, then b1, i1-i8, u1-u8, f4, f8. */
const SUPPORTED_DTYPES =
  'bool (b1), signed and unsigned integers of 1, 2, 4 and 8 bytes (i1-i8, u1-u8), float32 (f4) and float64 (f8), in either byte order';

function npyElement(descr: string): NpyElement {
  const m = /^([<>|=])([biuf])(\d+)$/.exec(descr);
  const le = m?.[1] !== '>';
  const kind = m?.[2];
  const size = Number(m?.[3]);
  const make = (read: (v: DataView, o: number) => string): NpyElement => ({ size, read });
  if (kind === 'b' && size === 1) return make((v, o) => (v.getUint8(o) !== 0 ? 'True' : 'False'));
  if (kind === 'i' && size === 1) return make((v, o) => String(v.getInt8(o)));
  if (kind === 'u' && size === 1) return make((v, o) => String(v.getUint8(o)));
  if (kind === 'i' && size === 2) return make((v, o) => String(v.getInt16(o, le)));
  if (kind === 'u' && size === 2) return make((v, o) => String(v.getUint16(o, le)));
  if (kind === 'i' && size === 4) return make((v, o) => String(v.getInt32(o, le)));
  if (kind === 'u' && size === 4) return make((v, o) => String(v.getUint32(o, le)));
  if (kind === 'i' && size === 8) return make((v, o) => v.getBigInt64(o, le).toString());
  if (kind === 'u' && size === 8) return make((v, o) => v.getBigUint64(o, le).toString());
  if (kind === 'f' && size === 8) return make((v, o) => pyFloatRepr(v.getFloat64(o, le)));
  if (kind === 'f' && size === 4) return make((v, o) => float32Str(v.getFloat32(o, le)));
  throw new SampleFileError(`the array's dtype '${descr}' is not supported; supported: ${SUPPORTED_DTYPES}`);
}

/** `str(np.float32(x))`: the fewest digits that read back as the same float32, in Python's notation. */
export function float32Str(x: number): string {
  if (!Number.isFinite(x) || x === 0) return pyFloatRepr(x);
  for (let p = 1; p < 9; p++) {
    const shortest = Number(x.toPrecision(p));
    if (Math.fround(shortest) === x) return pyFloatRepr(shortest);
  }
  return pyFloatRepr(Number(x.toPrecision(9)));
}
