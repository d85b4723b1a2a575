'use client'
/**
 * A read-only JSON field (tags, metadata): the value pretty-printed. Payload's own JSON field edits
 * with Monaco, which its client bundle loads from a public CDN; these fields are read-only, so the
 * admin shows them without an editor and loads nothing from outside.
 */
import { FieldLabel, useField } from '@payloadcms/ui'
import type { JSONFieldClientComponent } from 'payload'

export const JSONView: JSONFieldClientComponent = ({ field, path }) => {
  const { value } = useField<unknown>({ path: path ?? field.name })
  return (
    <div className="field-type json distribution-json" id={`field-${field.name}`}>
      <FieldLabel label={field.label || field.name} path={path} />
      {value === null || value === undefined ? (
        <span>—</span>
      ) : (
        <pre style={{ margin: 0, overflowX: 'auto', padding: 'calc(var(--base) / 2)', background: 'var(--theme-elevation-50)' }}>
          {JSON.stringify(value, null, 2)}
        </pre>
      )}
    </div>
  )
}
