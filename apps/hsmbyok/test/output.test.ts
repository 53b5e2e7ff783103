/**
 * FdSink on real descriptors: a file, and a named pipe made non-blocking so that a full pipe answers
 * EAGAIN and a pipe without reader answers EPIPE, as they do under a shell.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CoalescingOutput, FdSink, Reporter, type StreamSink } from '../src/output.js';

let dir: string;
const open: number[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hsmbyok-output-'));
});

afterEach(() => {
  for (const fd of open.splice(0)) closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

function track(fd: number): number {
  open.push(fd);
  return fd;
}

/** A named pipe with both ends open and non-blocking: [reader, writer]. */
function fifo(): [number, number] {
  const path = join(dir, 'pipe');
  execFileSync('mkfifo', [path]);
  const reader = track(openSync(path, constants.O_RDONLY | constants.O_NONBLOCK));
  const writer = track(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  return [reader, writer];
}

function drain(fd: number): Buffer {
  const chunks: Buffer[] = [];
  const chunk = Buffer.alloc(65536);
  for (;;) {
    try {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(Buffer.from(chunk.subarray(0, n)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
      throw error;
    }
  }
  return Buffer.concat(chunks);
}

class Collector implements StreamSink {
  readonly chunks: Buffer[] = [];
  write(chunk: string | Uint8Array): boolean {
    this.chunks.push(Buffer.from(chunk));
    return true;
  }
}

const unusedStream = (): StreamSink => {
  throw new Error('the stream must not be built');
};

describe('FdSink', () => {
  it('writes every byte, in order, without building the stream', () => {
    const path = join(dir, 'out.txt');
    const fd = track(openSync(path, 'w'));
    const sink = new FdSink(fd, unusedStream);
    const lines = ['INFO: ReadIni: é ü 鍵\n', 'x'.repeat(100_000), '\nINFO: overall success\n'];
    for (const line of lines) sink.write(line);
    expect(readFileSync(path, 'utf8')).toBe(lines.join(''));
  });

  it('hands the rest to the stream when a non-blocking pipe is full, and keeps the order', () => {
    const [reader, writer] = fifo();
    const stream = new Collector();
    const sink = new FdSink(writer, () => stream);
    // Multi-byte characters across the pipe's capacity: the split may fall inside one.
    const big = '鍵'.repeat(40_000);
    sink.write(big);
    sink.write('after\n');
    const inPipe = drain(reader);
    expect(inPipe.length).toBeGreaterThan(0);
    expect(stream.chunks.length).toBe(2);
    expect(Buffer.concat([inPipe, ...stream.chunks]).toString('utf8')).toBe(`${big}after\n`);
  });

  it('drops the output once the reader has gone, without throwing', () => {
    const [reader, writer] = fifo();
    open.splice(open.indexOf(reader), 1);
    closeSync(reader);
    const sink = new FdSink(writer, unusedStream);
    expect(() => sink.write('INFO: nobody reads this\n')).not.toThrow();
    expect(() => sink.write('INFO: nor this\n')).not.toThrow();
  });

  it('carries a Reporter run through CoalescingOutput to the descriptor', () => {
    const path = join(dir, 'run.txt');
    const fd = track(openSync(path, 'w'));
    const output = new CoalescingOutput();
    const out = new Reporter(output.sink(new FdSink(fd, unusedStream)), output.sink(new Collector()), {
      json: false,
    });
    out.addSecret('24681357');
    out.info('logging in');
    out.warning('PIN 24681357 was typed where it should not be');
    expect(readFileSync(path, 'utf8')).toBe('');
    output.flush();
    expect(readFileSync(path, 'utf8')).toBe(
      'INFO: logging in\nWARNING: PIN ******** was typed where it should not be\n',
    );
  });
});
