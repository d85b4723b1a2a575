export { ChecksumCell, PublicURLCell, PublicURLField } from './PublicURL'
export { VideoPreview } from './VideoPreview'
