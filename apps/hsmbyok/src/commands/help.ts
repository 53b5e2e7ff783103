import type { Command } from '../context.js';
import { MIN_PIN_LENGTH } from '../pin.js';
import { buildInfo, ORIGINAL_VERSION } from '../version.js';
import { CLOUD_HELP_SUMMARY } from './cloud-help.js';

function helpText(): string {
  const { version } = buildInfo();
  return `hsmbyok ${version}: drop-in replacement for Thales hsmbyok ${ORIGINAL_VERSION}, for any PKCS#11 module.

USAGE
  hsmbyok --generate-and-wrap-target-key [extensions]
  hsmbyok --check [extensions]
  hsmbyok --help | --version

  Option names are case-insensitive, like the original's.

WHAT IT DOES (unchanged from the original)
  Reads HsmConfig.ini ([byok] section) and kekBlob.pem (the cloud KEK's RSA public key, BEGIN PUBLIC KEY)
  from the current directory, asks "Enter password for Crypto-Officer: " on the terminal (echo off, '*'
  per character), logs in to the token tokenLabel of the PKCS#11 library libraryName, finds the key
  labelled targetKeyName (or generates it when targetKeyFlags has CKF_CREATE_IF_NOT_FOUND), wraps it
  with CKM_RSA_AES_KEY_WRAP (one step) or RSA-OAEP + RFC 5649 (two steps), and writes targetBlob.byok.
  The last line is "INFO: overall success" or "ERROR: overall failure: CKR_X (0x...)".

COMMANDS
  --generate-and-wrap-target-key   the original's command
  --check                          preflight only: config, kekBlob.pem, output, library, token, mechanisms,
                                   login, target key, partition policies / key attributes. Prints a table
                                   of verdicts and changes nothing on the HSM (no key, no session object).
                                   Exit 0 when every check passes, 1 otherwise.
  --help, -h                       this text
  --version                        version line

EXTENSIONS (none changes the default behaviour)
  --config FILE      read FILE instead of ./HsmConfig.ini
  --kek FILE         read FILE instead of ./kekBlob.pem
  --out FILE         write FILE instead of ./targetBlob.byok
  --pin-env VAR      read the PIN from environment variable VAR (then removed from this process's env)
  --pin-file FILE    read the PIN from the first line of FILE (warns when FILE is readable by others)
  --pin-stdin        read the PIN from the first line of stdin (a pipe; refused when stdin is a terminal)
  --json             print one JSON document with the result on stdout; the human lines go to stderr

  Without a --pin-* option the PIN is read from the controlling terminal, as the original did. There is
  no implicit PIN variable (such as HSMBYOK_PIN): the PIN source is always explicit. PINs shorter than
  ${MIN_PIN_LENGTH} characters are refused (CKR_PIN_INVALID) before C_Login, as the original did.
  The PIN never appears in output, errors or the JSON document.

OUTPUT FILE
  targetBlob.byok is written atomically (a temporary file next to it, then a rename): a failed run
  leaves no targetBlob.byok and no temporary file. The original overwrote an existing targetBlob.byok;
  hsmbyok keeps the name but first keeps the previous file as targetBlob.byok.<UTC time>.bak and says
  so in a WARNING line, so no earlier result is lost.

${CLOUD_HELP_SUMMARY}

EXIT CODES
  0    success (INFO: overall success)
  1    failure (ERROR: overall failure: CKR_X (0x...)); --check: at least one check failed
  255  usage (no option, or a stray argument)

DIFFERENCES FROM THE ORIGINAL (interface kept, behaviour fixed)
  - Everything is validated before anything on the HSM changes: the option, HsmConfig.ini (every key,
    every flag, the key spec), kekBlob.pem, the output directory, the library, the token, the mechanisms
    and the partition policies / key attributes. The original checked the option only after login and
    generated the target key before reading kekBlob.pem.
  - A key generated in this run is destroyed when a later step fails (a WARNING line says so): failed
    runs leave no orphan keys.
  - Misspelled or unknown flags (CKF_EXTRACTABL), key types and curves are errors (CKR_ARGUMENTS_BAD);
    the original ignored unknown flags and made, e.g., an unexportable key.
  - The target key is found whatever its CKA_PRIVATE; the original saw only CKA_PRIVATE=true keys and
    generated a duplicate next to a CKA_PRIVATE=false one. An existing key of another type or size than
    targetKeySpec is an error.
  - Generating a key without CKF_TOKEN is refused: the original made a session key that vanished after a
    "successful" run.
  - kid and SchemaVersion are JSON-escaped in targetBlob.byok.
  - HsmConfig.ini lines of any length are read whole (the original split or truncated lines over 255
    bytes); ';' inside quotes is part of the value; spaces inside unquoted values are kept.
  - The RFC 5649 mechanism is probed on the module (CKM_AES_KEY_WRAP_KWP 0x210B, Luna CKM_AES_KWP
    0x80000171, SoftHSM's CKM_AES_KEY_WRAP_PAD 0x210A) instead of taken from the name in wrappingCiphers;
    the one picked is logged. RSA keys are generated with CKM_RSA_PKCS_KEY_PAIR_GEN (the original used
    X9.31, which most modules lack) and EC public points are read from the public object: any module works.
  - An OAEP hash the module cannot do (SoftHSM: anything but SHA-1) is refused up front, never replaced.
  - Partition policies (Luna: CA_GetContainerPolicySetting) or, elsewhere, CKF_WRAP and key attributes
    (CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED) are checked and logged before the first change.
  - Error lines name what failed in words, then the CKR name and code: ERROR: <what>: CKR_X (0x...).
  - Step lines (INFO: ...) say what each step does; the original's internal lines (LoadKeyPair: keyType =
    ..., hPrivate = ...) are gone. INFO: ReadIni, the prompt, WARNING: targetKeyName not found - generating
    a new key, INFO: targetBlob.byok and the closing lines are unchanged.
  - kekBlob.pem: unreadable is CKR_FILE_IO and not RSA is CKR_KEY_TYPE_INCONSISTENT as in the original; a
    KEK under 2048 bits is refused (CKR_WRAPPING_KEY_SIZE_RANGE) where the original wrapped under it.
  - After Enter the prompt pads the '*' row to 32 characters (the original padded to 256).
  - The banner's first line names this tool, not SafeNet; the version line keeps the original's shape.
`;
}

export const help: Command = async ({ out }) => {
  out.raw(helpText());
  return { result: {} };
};
