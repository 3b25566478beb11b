// The Node side of Tessera's interop tests: real express-session with a real store, chosen by
// STORE=redis|postgres|mongo. Same secret list and cookie name as the Rust side.
//
// Env: PORT, STORE, SECRETS (comma-separated, first signs), COOKIE_NAME (connect.sid),
//      REDIS_URL + REDIS_PREFIX (sess:), DATABASE_URL + PG_TABLE (session),
//      MONGO_URI + MONGO_DB + MONGO_COLLECTION (sessions).
'use strict';
const express = require('express');
const session = require('express-session');

const env = process.env;
const secrets = (env.SECRETS || '').split(',').filter(Boolean);
if (secrets.length === 0) {
  console.error('SECRETS is required');
  process.exit(2);
}

async function makeStore() {
  switch (env.STORE) {
    case 'redis': {
      const { createClient } = require('redis');
      const { RedisStore } = require('connect-redis');
      const client = createClient({ url: env.REDIS_URL || 'redis://127.0.0.1:6379' });
      client.on('error', (e) => console.error('redis error', e.message));
      await client.connect();
      return new RedisStore({ client, prefix: env.REDIS_PREFIX || 'sess:' });
    }
    case 'postgres': {
      const pgSession = require('connect-pg-simple')(session);
      return new pgSession({
        conString: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
        tableName: env.PG_TABLE || 'session',
        createTableIfMissing: false,
      });
    }
    case 'mongo': {
      const { MongoStore } = require('connect-mongo');
      return MongoStore.create({
        mongoUrl: env.MONGO_URI,
        dbName: env.MONGO_DB || 'test',
        collectionName: env.MONGO_COLLECTION || 'sessions',
      });
    }
    default:
      throw new Error(`unknown STORE ${env.STORE}`);
  }
}

async function main() {
  const store = await makeStore();
  const app = express();
  app.use(express.json());
  app.use(
    session({
      name: env.COOKIE_NAME || 'connect.sid',
      secret: secrets,
      store,
      resave: false,
      saveUninitialized: false,
    }),
  );

  const done = (res, status, body) => (err) => {
    if (err) return res.status(500).json({ error: String(err.message || err) });
    if (body === undefined) return res.status(status).end();
    res.status(status).json(body);
  };

  app.post('/login', (req, res) => {
    const email = req.body && req.body.email;
    if (typeof email !== 'string') return res.status(422).json({ error: 'email required' });
    req.session.regenerate((err) => {
      if (err) return done(res)(err);
      req.session.user = { id: email, email };
      req.session.save(done(res, 200, { user: { email } }));
    });
  });

  app.get('/whoami', (req, res) => {
    if (req.session.user) return res.json({ user: req.session.user });
    res.status(401).json({ error: 'not logged in' });
  });

  app.post('/set', (req, res) => {
    const { key, value } = req.body || {};
    if (typeof key !== 'string' || key === 'cookie') return res.status(422).json({ error: 'bad key' });
    req.session[key] = value;
    req.session.save(done(res, 200, { ok: true }));
  });

  app.get('/get/:key', (req, res) => {
    const v = req.session[req.params.key];
    res.json({ value: v === undefined ? null : v });
  });

  app.post('/logout', (req, res) => {
    const opts = { path: '/', httpOnly: true };
    req.session.destroy((err) => {
      if (err) return done(res)(err);
      res.clearCookie(env.COOKIE_NAME || 'connect.sid', opts);
      res.status(204).end();
    });
  });

  app.post('/regenerate', (req, res) => {
    const user = req.session.user;
    req.session.regenerate((err) => {
      if (err) return done(res)(err);
      if (user) req.session.user = user;
      req.session.save(done(res, 200, { ok: true }));
    });
  });

  // Remember me: a persistent cookie for `days` days. express only sends Set-Cookie for a
  // modified session, so mark it modified.
  app.post('/remember', (req, res) => {
    const days = Number((req.body && req.body.days) || 30);
    req.session.cookie.maxAge = days * 86400000;
    req.session.rememberedAt = Date.now();
    req.session.save(done(res, 200, { expires: req.session.cookie.expires }));
  });

  const server = app.listen(Number(env.PORT || 7600), '127.0.0.1', () => {
    console.log(`interop node app (${env.STORE}) on 127.0.0.1:${server.address().port}`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
