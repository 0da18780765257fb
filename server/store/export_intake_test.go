package store

// The columns CreateJobs and RecordDeliveries write.
var (
	JobColumnsForTest      = jobColumns
	DeliveryColumnsForTest = deliveryColumns
)
