import { VideoPreview as VideoPreview_6d14e4d104aea7dac499cf84831cbd66 } from '@distribution/payload-plugin/client'
import { FileSizeCell as FileSizeCell_6d14e4d104aea7dac499cf84831cbd66 } from '@distribution/payload-plugin/client'
import { ChecksumCell as ChecksumCell_6d14e4d104aea7dac499cf84831cbd66 } from '@distribution/payload-plugin/client'
import { PublicURLCell as PublicURLCell_6d14e4d104aea7dac499cf84831cbd66 } from '@distribution/payload-plugin/client'
import { PublicURLField as PublicURLField_6d14e4d104aea7dac499cf84831cbd66 } from '@distribution/payload-plugin/client'
import { JSONView as JSONView_6d14e4d104aea7dac499cf84831cbd66 } from '@distribution/payload-plugin/client'
import { CollectionCards as CollectionCards_f9c02e79a4aed9a3924487c0cd4cafb1 } from '@payloadcms/next/rsc'

/** @type import('payload').ImportMap */
export const importMap = {
  "@distribution/payload-plugin/client#VideoPreview": VideoPreview_6d14e4d104aea7dac499cf84831cbd66,
  "@distribution/payload-plugin/client#FileSizeCell": FileSizeCell_6d14e4d104aea7dac499cf84831cbd66,
  "@distribution/payload-plugin/client#ChecksumCell": ChecksumCell_6d14e4d104aea7dac499cf84831cbd66,
  "@distribution/payload-plugin/client#PublicURLCell": PublicURLCell_6d14e4d104aea7dac499cf84831cbd66,
  "@distribution/payload-plugin/client#PublicURLField": PublicURLField_6d14e4d104aea7dac499cf84831cbd66,
  "@distribution/payload-plugin/client#JSONView": JSONView_6d14e4d104aea7dac499cf84831cbd66,
  "@payloadcms/next/rsc#CollectionCards": CollectionCards_f9c02e79a4aed9a3924487c0cd4cafb1
}
