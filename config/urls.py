from django.contrib import admin
from django.urls import path

from distribution.api_views import PublishView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/distribution/publish", PublishView.as_view(), name="distribution-publish"),
]
