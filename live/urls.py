from live import views
from tutoring.api.routers import ApiRouter

router = ApiRouter()
router.register("sessions", views.SessionViewSet, basename="live-session")

urlpatterns = router.urls
