export { redactUrl, withoutPassword, urlPassword, secretForms, scrub } from './redact.js';
export { redactArgv, titleWithoutPasswords } from './argv.js';
