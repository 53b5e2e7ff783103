/**
 * The Crypto-Officer PIN: from the terminal prompt (the original's only way) or, for automation, from a named
 * environment variable, a file or stdin. The PIN is returned to the caller and nowhere else: it is never
 * logged, never part of an error message and never in the JSON result.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ByokError } from '@byok/core';
import type { PinSource } from './argv.js';
import { type PromptIo, promptSecret } from './terminal.js';

/** The original refused shorter PINs before calling C_Login. */
export const MIN_PIN_LENGTH = 7;

export interface PinIo {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly platform: NodeJS.Platform;
  readonly prompt: PromptIo;
  warn(message: string): void;
}

/** Strips one line ending; a PIN never contains a newline. */
function singleLine(text: string, where: string): string {
  const line = text.replace(/\r?\n$/, '');
  if (/[\r\n]/.test(line)) {
    throw new ByokError('CKR_PIN_INVALID', `${where} holds more than one line; put only the PIN in it`);
  }
  return line;
}

function fromEnv(name: string, io: PinIo): string {
  const value = io.env[name];
  if (value === undefined || value === '') {
    throw new ByokError('CKR_ARGUMENTS_BAD', `environment variable ${name} (--pin-env) is not set or empty`);
  }
  // Children of this process (none today) must not inherit it.
  delete io.env[name];
  return singleLine(value, `environment variable ${name}`);
}

function fromFile(path: string, io: PinIo): string {
  const full = resolve(io.cwd, path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new ByokError('CKR_FILE_NOT_FOUND', `PIN file ${path} not found`, { cause: error });
    throw new ByokError('CKR_FILE_IO', `cannot read PIN file ${path} (${code ?? 'error'})`, { cause: error });
  }
  if (io.platform !== 'win32') {
    const mode = statSync(full).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      io.warn(
        `PIN file ${path} is readable by others (mode ${mode.toString(8).padStart(4, '0')}); chmod 600 it`,
      );
    }
  }
  return singleLine(text, `PIN file ${path}`);
}

/** Reads stdin up to the first newline (or its end). Refuses a terminal: typing there would echo the PIN. */
function fromStdin(io: PinIo): Promise<string> {
  if (io.stdin.isTTY) {
    return Promise.reject(
      new ByokError(
        'CKR_ARGUMENTS_BAD',
        '--pin-stdin reads a pipe, but stdin is a terminal; drop it to get the prompt',
      ),
    );
  }
  return new Promise<string>((resolve, reject) => {
    const parts: Buffer[] = [];
    const done = (): void => {
      io.stdin.removeListener('data', onData);
      io.stdin.removeListener('end', done);
      io.stdin.removeListener('error', onError);
      io.stdin.pause();
      const text = Buffer.concat(parts).toString('utf8');
      const newline = text.indexOf('\n');
      resolve((newline < 0 ? text : text.slice(0, newline)).replace(/\r$/, ''));
    };
    const onData = (chunk: Buffer | string): void => {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      parts.push(buffer);
      if (buffer.includes(0x0a)) done();
    };
    const onError = (error: unknown): void => {
      reject(new ByokError('CKR_FILE_IO', 'cannot read the PIN from stdin', { cause: error }));
    };
    io.stdin.on('data', onData);
    io.stdin.on('end', done);
    io.stdin.on('error', onError);
    io.stdin.resume();
  });
}

/** Non-interactive sources, read before anything touches the HSM so a missing PIN fails early. */
export async function readPinNonInteractive(source: PinSource, io: PinIo): Promise<string | undefined> {
  switch (source.kind) {
    case 'env':
      return fromEnv(source.name, io);
    case 'file':
      return fromFile(source.path, io);
    case 'stdin':
      return fromStdin(io);
    case 'prompt':
      return undefined;
  }
}

export async function promptPin(io: PinIo): Promise<string> {
  return promptSecret(io.prompt);
}

export function assertPinLength(pin: string): void {
  if ([...pin].length < MIN_PIN_LENGTH) {
    throw new ByokError('CKR_PIN_INVALID', `the PIN is shorter than ${MIN_PIN_LENGTH} characters`);
  }
}
