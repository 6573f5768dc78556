// Starts an in-memory PLC directory and the reference Bluesky PDS, for tests.
//
//   PLC_PORT=2582 PDS_PORT=2583 node start-pds.js
//
// Prints one line `READY http://localhost:PDS_PORT` on stdout once both
// serve, and nothing else there (the PDS logs nothing unless LOG_ENABLED is
// set).  Stops cleanly on SIGTERM or SIGINT, and also when its stdin closes
// if STOP_ON_STDIN_CLOSE=1 (so a test run that dies cannot leave it behind).
// Everything lives in memory or a temporary directory removed on exit.
// Adapted from the checked recipe in ../shared/pds/.
const { PlcServer, Database } = require('@did-plc/server')
const pds = require('@atproto/pds')
const crypto = require('crypto')
const fs = require('fs')
const os = require('os')
const path = require('path')

async function main() {
  const plcPort = Number(process.env.PLC_PORT || 2582)
  const pdsPort = Number(process.env.PDS_PORT || 2583)
  const plc = PlcServer.create({ db: Database.mock(), port: plcPort })
  await plc.start()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pds-data-'))
  const rotationKey = crypto.randomBytes(32).toString('hex')
  Object.assign(process.env, {
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: String(pdsPort),
    PDS_DEV_MODE: 'true',
    PDS_DATA_DIRECTORY: dir,
    PDS_BLOBSTORE_DISK_LOCATION: path.join(dir, 'blobs'),
    // Tests may pass the secret to mint tokens (e.g. an access token about to expire).
    PDS_JWT_SECRET: process.env.PDS_JWT_SECRET || crypto.randomBytes(16).toString('hex'),
    PDS_ADMIN_PASSWORD: process.env.PDS_ADMIN_PASSWORD || 'admin-pass',
    PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: rotationKey,
    PDS_DID_PLC_URL: 'http://127.0.0.1:' + plcPort,
    PDS_INVITE_REQUIRED: 'false',
    PDS_SERVICE_HANDLE_DOMAINS: '.test',
    PDS_CRAWLERS: '',
    PDS_BSKY_APP_VIEW_URL: '', // no AppView: app.bsky.* reads answer 400
  })
  const env = pds.readEnv()
  const server = await pds.PDS.create(pds.envToCfg(env), pds.envToSecrets(env))
  await server.start()

  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    try {
      await server.destroy()
      await plc.destroy()
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
      process.exit(0)
    }
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  if (process.env.STOP_ON_STDIN_CLOSE === '1') {
    process.stdin.on('end', stop)
    process.stdin.on('error', stop)
    process.stdin.resume()
  }
  process.stdout.write('READY http://localhost:' + pdsPort + '\n')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
