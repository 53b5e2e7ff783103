/**
 * Whether a shared library may export a symbol, answered from the file without loading it: the dynamic
 * string table of an ELF library names every symbol it exports. Used to skip binding Luna's CA_* functions
 * (and loading koffi at all) for modules that cannot have them. The answer is "no" only when the file is a
 * readable ELF whose dynamic symbols do not name the symbol; anything else (bare names the loader resolves,
 * PE or Mach-O files, stripped section headers, read errors) is "maybe", and the caller then asks the loader.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { isAbsolute } from 'node:path';

const SHT_DYNSYM = 11;
/** A .dynstr larger than this is not read (Luna's is tens of kB): the answer is then "maybe". */
const MAX_STRTAB = 16 * 1024 * 1024;

interface Section {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) throw new Error('short read');
    done += n;
  }
  return buffer;
}

/** The dynamic string table of an ELF file, or undefined when it cannot be found. */
function dynamicStrings(fd: number): Buffer | undefined {
  const ident = readAt(fd, 0, 64);
  if (ident.readUInt32BE(0) !== 0x7f454c46) return undefined; // not ELF
  const is64 = ident[4] === 2;
  const le = ident[5] === 1;
  const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (b: Buffer, o: number): number =>
    is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o);
  const shoff = word(ident, is64 ? 0x28 : 0x20);
  const shentsize = u16(ident, is64 ? 0x3a : 0x2e);
  const shnum = u16(ident, is64 ? 0x3c : 0x30);
  if (shoff === 0 || shnum === 0 || shentsize < (is64 ? 0x40 : 0x28)) return undefined;
  const table = readAt(fd, shoff, shentsize * shnum);
  const section = (index: number): Section => {
    const o = index * shentsize;
    return {
      type: u32(table, o + 4),
      offset: word(table, o + (is64 ? 0x18 : 0x10)),
      size: word(table, o + (is64 ? 0x20 : 0x14)),
      link: u32(table, o + (is64 ? 0x28 : 0x18)),
    };
  };
  for (let i = 0; i < shnum; i++) {
    const dynsym = section(i);
    if (dynsym.type !== SHT_DYNSYM || dynsym.link >= shnum) continue;
    const strtab = section(dynsym.link);
    if (strtab.size === 0 || strtab.size > MAX_STRTAB) return undefined;
    return readAt(fd, strtab.offset, strtab.size);
  }
  return undefined;
}

/** False only when `libraryPath` is an ELF file whose dynamic symbols certainly do not include `symbol`. */
export function mayExportSymbol(libraryPath: string, symbol: string): boolean {
  if (!isAbsolute(libraryPath) && !/[\\/]/.test(libraryPath)) return true; // the loader's search path decides
  let fd: number | undefined;
  try {
    fd = openSync(libraryPath, 'r');
    const strings = dynamicStrings(fd);
    if (!strings) return true;
    return strings.includes(Buffer.from(`\0${symbol}\0`, 'latin1'));
  } catch {
    return true;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
