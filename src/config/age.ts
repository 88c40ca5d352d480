import { readFile } from 'node:fs/promises';
import { Decrypter, Encrypter, armor, identityToRecipient } from 'age-encryption';

/**
 * age files (https://age-encryption.org), interoperable with the `age` and
 * `age-keygen` CLIs. Errors name files and line numbers, never key material.
 */

const ARMOR_HEADER = '-----BEGIN AGE ENCRYPTED FILE-----';
const ENCRYPTED_HEADER = 'age-encryption.org/';

/**
 * The identities in a file as written by `age-keygen`: `#` comment lines, blank
 * lines and one `AGE-SECRET-KEY-1…` (or post-quantum `AGE-SECRET-KEY-PQ-1…`) per line.
 */
export async function readAgeIdentities(identityFile: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(identityFile, 'utf8');
  } catch (err) {
    throw new Error(`cannot read age identity file ${identityFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  if (text.startsWith(ENCRYPTED_HEADER) || text.startsWith(ARMOR_HEADER)) {
    throw new Error(`age identity file ${identityFile} is itself encrypted; passphrase-protected identities are not supported`);
  }
  const identities: string[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    // Do not echo the line: it is probably a (mangled) private key.
    if (!trimmed.startsWith('AGE-SECRET-KEY-')) throw new Error(`age identity file ${identityFile} line ${i + 1} is not an age secret key`);
    identities.push(trimmed);
  }
  if (identities.length === 0) throw new Error(`age identity file ${identityFile} holds no AGE-SECRET-KEY line`);
  return identities;
}

/** The public recipient (`age1…`) of the first identity in the file, as `age-keygen -y` prints it. */
export async function ageRecipientOf(identityFile: string): Promise<string> {
  const [first] = await readAgeIdentities(identityFile);
  try {
    return await identityToRecipient(first as string);
  } catch (err) {
    throw new Error(`age identity file ${identityFile} holds an invalid key`, { cause: err });
  }
}

/** Decrypts a binary or ASCII-armored (`age -a`) age file to UTF-8 text. */
export async function decryptAgeFile(file: string, identityFile: string): Promise<string> {
  const identities = await readAgeIdentities(identityFile);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new Error(`cannot read age file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  const decrypter = new Decrypter();
  try {
    for (const identity of identities) decrypter.addIdentity(identity);
    const head = Buffer.from(bytes.subarray(0, ARMOR_HEADER.length)).toString('latin1');
    const binary = head === ARMOR_HEADER ? armor.decode(Buffer.from(bytes).toString('utf8')) : bytes;
    return await decrypter.decrypt(binary, 'text');
  } catch (err) {
    throw new Error(`cannot decrypt age file ${file} with identity file ${identityFile}`, { cause: err });
  }
}

/** Encrypts to one recipient (`age1…`); the result is a binary age file `age -d` reads. */
export async function encryptAge(plaintext: string | Uint8Array, recipient: string): Promise<Uint8Array> {
  const encrypter = new Encrypter();
  try {
    encrypter.addRecipient(recipient);
  } catch (err) {
    throw new Error('invalid age recipient (expected age1…)', { cause: err });
  }
  return encrypter.encrypt(plaintext);
}
