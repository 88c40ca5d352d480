#!/usr/bin/env node
// Entry point of the `flotilla` command; the TypeScript is compiled to dist/ by `npm install` (prepare) and `npm start`.
import { main } from '../dist/cli/main.js';

await main(process.argv);
