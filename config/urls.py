from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from distribution.api.views import JobCancelView, JobView, PublishView, RecordLinkView, RecordListView, RecordView
from distribution.operators.views import dashboard_view, favicon_view, landing_view, metrics_view, redoc_bundle_view

urlpatterns = [
    path("", landing_view, name="distribution-landing"),
    path("favicon.ico", favicon_view, name="favicon"),
    path("admin/", admin.site.urls),
    path("dashboard/", dashboard_view, name="distribution-dashboard"),
    path("metrics", metrics_view, name="distribution-metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="openapi-schema"), name="api-redoc"),
    path("api/redoc/redoc.standalone.js", redoc_bundle_view, name="api-redoc-bundle"),
    path("api/distribution/publish", PublishView.as_view(), name="distribution-publish"),
    path("api/distribution/jobs/<int:job_id>", JobView.as_view(), name="distribution-job"),
    path("api/distribution/records", RecordListView.as_view(), name="distribution-records"),
    path("api/distribution/records/<str:audit_log_id>", RecordView.as_view(), name="distribution-record"),
    path("api/distribution/records/<str:audit_log_id>/link", RecordLinkView.as_view(), name="distribution-record-link"),
    path("api/distribution/jobs/<int:job_id>/cancel", JobCancelView.as_view(), name="distribution-job-cancel"),
]
