// Reads the trusted documents manifest as a TRUSTED_DOCUMENTS=on server does, so that an id
// that is not the SHA-256 of its document fails `npm run client:check`, not a server's start.
import { DEFAULT_MANIFEST, readManifest } from '../src/http/persisted-operations.ts';

const manifest = readManifest(DEFAULT_MANIFEST);
console.log(`${manifest.size} trusted documents in ${DEFAULT_MANIFEST}`);
