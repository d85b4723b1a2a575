// Payload's admin as a standard Next.js app (src/app/(payload)); built by build-admin.sh.
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { withPayload } from '@payloadcms/next/withPayload'

const dirname = path.dirname(fileURLToPath(import.meta.url))

export default withPayload(
  {
    // `npm run typecheck` checks the types; the build does not repeat it.
    typescript: { ignoreBuildErrors: true },
    turbopack: { root: dirname },
    webpack: (webpackConfig) => {
      webpackConfig.resolve.extensionAlias = {
        '.cjs': ['.cts', '.cjs'],
        '.js': ['.ts', '.tsx', '.js', '.jsx'],
        '.mjs': ['.mts', '.mjs'],
      }
      return webpackConfig
    },
  },
  { devBundleServerPackages: false },
)
