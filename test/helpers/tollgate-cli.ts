// Runs the CLI from source (through tsx) for multi-process tests; cluster workers re-enter this file.
import { main } from '../../src/main.js';

process.exitCode = await main(process.argv.slice(2));
