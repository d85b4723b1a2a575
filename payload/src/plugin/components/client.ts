export { PublicURLCell, PublicURLField } from './PublicURL'
export { VideoPreview } from './VideoPreview'
