'use client'
/**
 * List cells and a document field for distributionRecords: the public URL as a link (the full
 * URL on the document, its file name in the list) and the checksum shortened in the list.
 * Full values stay in the title attribute, so the list fits a laptop screen.
 */
import { FieldLabel, useField } from '@payloadcms/ui'
import type { DefaultCellComponentProps, TextFieldClientComponent } from 'payload'

const Link = ({ text, url }: { text?: string; url?: null | string }) =>
  url ? (
    <a className="distribution-public-url" href={url} rel="noopener noreferrer" target="_blank" title={url}>
      {text || url}
    </a>
  ) : (
    <span>—</span>
  )

const fileName = (url: string) => {
  try {
    return decodeURIComponent(new URL(url, 'http://relative').pathname.split('/').pop() || url)
  } catch {
    return url
  }
}

export const PublicURLCell = ({ cellData }: DefaultCellComponentProps) =>
  typeof cellData === 'string' && cellData ? <Link text={fileName(cellData)} url={cellData} /> : <Link />

export const PublicURLField: TextFieldClientComponent = ({ field, path }) => {
  const { value } = useField<string>({ path: path ?? field.name })
  return (
    <div className="field-type text">
      <FieldLabel label={field.label || 'Public URL'} path={path} />
      <Link url={value} />
    </div>
  )
}

/** sha256:563516773e87…a36c */
export const ChecksumCell = ({ cellData }: DefaultCellComponentProps) => {
  const checksum = typeof cellData === 'string' ? cellData : ''
  const short = checksum.length > 24 ? `${checksum.slice(0, 19)}…${checksum.slice(-4)}` : checksum
  return <code title={checksum}>{short || '—'}</code>
}
