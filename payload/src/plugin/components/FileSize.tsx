'use client'
/** File sizes in binary units with their own labels (KiB, MiB, GiB), as the distribution app shows them. */
import type { DefaultCellComponentProps } from 'payload'

const UNITS = [
  ['GiB', 1024 ** 3],
  ['MiB', 1024 ** 2],
  ['KiB', 1024],
] as const

export const formatBytes = (bytes: number) => {
  const [unit, size] = UNITS.find(([, size]) => bytes >= size) ?? []
  return unit && size ? `${(bytes / size).toFixed(1)} ${unit}` : `${bytes} B`
}

export const FileSizeCell = ({ cellData }: DefaultCellComponentProps) =>
  typeof cellData === 'number' ? <span title={`${cellData} bytes`}>{formatBytes(cellData)}</span> : <span>—</span>
