// Runs the CLI from source, exactly as bin/flotilla.js runs the compiled one.
import { main } from '../../src/cli/main.js';

await main(process.argv);
