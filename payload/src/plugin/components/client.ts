export { FileSizeCell } from './FileSize'
export { JSONView } from './JSONView'
export { ChecksumCell, PublicURLCell, PublicURLField } from './PublicURL'
export { VideoPreview } from './VideoPreview'
