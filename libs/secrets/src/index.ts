export { redactUrl, withoutPassword, urlPassword, urlSecrets, secretForms, scrub } from './redact.js';
export { redactArgv, titleWithoutPasswords } from './argv.js';
