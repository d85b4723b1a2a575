'use client'
/** The record's public URL as a link, in the list (Cell) and on the document (Field). */
import { FieldLabel, useField } from '@payloadcms/ui'
import type { DefaultCellComponentProps, TextFieldClientComponent } from 'payload'

const Link = ({ url }: { url?: null | string }) =>
  url ? (
    <a className="distribution-public-url" href={url} rel="noopener noreferrer" target="_blank">
      {url}
    </a>
  ) : (
    <span>—</span>
  )

export const PublicURLCell = ({ cellData }: DefaultCellComponentProps) => (
  <Link url={typeof cellData === 'string' ? cellData : null} />
)

export const PublicURLField: TextFieldClientComponent = ({ field, path }) => {
  const { value } = useField<string>({ path: path ?? field.name })
  return (
    <div className="field-type text">
      <FieldLabel label={field.label || 'Public URL'} path={path} />
      <Link url={value} />
    </div>
  )
}
