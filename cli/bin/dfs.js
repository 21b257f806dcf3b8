#!/usr/bin/env node
// `npx dfs` / the package's bin: runs the TypeScript CLI through tsx, in this process.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
