'use client'
/** A player for the uploaded video on the media document (Payload's upload view shows no video). */
import { useFormFields } from '@payloadcms/ui'

export const VideoPreview = () => {
  const url = useFormFields(([fields]) => fields.url?.value)
  const mimeType = useFormFields(([fields]) => fields.mimeType?.value)
  if (typeof url !== 'string' || !url || !String(mimeType).startsWith('video/')) return null
  return (
    <div className="field-type distribution-video-preview">
      <video
        controls
        preload="metadata"
        src={url}
        style={{ display: 'block', width: '100%', maxWidth: 640, background: '#000' }}
      />
    </div>
  )
}
