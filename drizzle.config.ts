import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` writes a new migration after a change to the schema; commit the output.
export default defineConfig({
  dialect: 'sqlite',
  schema: './storage-node/src/db/schema.ts',
  out: './storage-node/drizzle',
});
