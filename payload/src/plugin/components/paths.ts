/**
 * Where the admin finds the plugin's React components: a package path, like Payload's official
 * plugins, so the import map key is the same wherever the config is evaluated (CLI or Next bundle).
 * payload/package.json links this folder as the package ("file:src/plugin").
 */
export const CLIENT_COMPONENTS = '@distribution/payload-plugin/client'
