import { servePage } from './server.ts';

// npm run web: the page on http://localhost:5173 (WEB_PORT), calling the API `npm run dev` serves.
const { origin } = await servePage({ port: Number(process.env.WEB_PORT ?? 5173), host: 'localhost' });
process.stdout.write(`The example front end: ${origin}/ (add ?token=… to write; ?api=… for another API)\n`);
