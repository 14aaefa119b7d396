package localcloud

// Region is one entry of the emulator's region catalog.
type Region struct {
	Slug      string   `json:"slug"`
	Name      string   `json:"name"`
	Features  []string `json:"features"`
	Available bool     `json:"available"`
	Sizes     []string `json:"sizes"`
}

// Size is one entry of the emulator's size catalog, with DigitalOcean's
// public list prices so cost-aware code sees realistic numbers.
type Size struct {
	Slug         string   `json:"slug"`
	Memory       int      `json:"memory"`
	Vcpus        int      `json:"vcpus"`
	Disk         int      `json:"disk"`
	Transfer     float64  `json:"transfer"`
	PriceMonthly float64  `json:"price_monthly"`
	PriceHourly  float64  `json:"price_hourly"`
	Regions      []string `json:"regions"`
	Available    bool     `json:"available"`
	Description  string   `json:"description"`
}

// regionSlugs is the emulator's region list, in the order the API lists it.
var regionSlugs = []struct{ slug, name string }{
	{"nyc1", "New York 1"},
	{"nyc3", "New York 3"},
	{"sfo3", "San Francisco 3"},
	{"ams3", "Amsterdam 3"},
	{"sgp1", "Singapore 1"},
	{"lon1", "London 1"},
	{"fra1", "Frankfurt 1"},
	{"tor1", "Toronto 1"},
	{"blr1", "Bangalore 1"},
	{"syd1", "Sydney 1"},
}

// sizeTable mirrors DigitalOcean's basic droplet sizes (disk in GB, memory in MB).
var sizeTable = []struct {
	slug                      string
	memory, vcpus, disk       int
	transfer, monthly, hourly float64
	desc                      string
}{
	{"s-1vcpu-512mb-10gb", 512, 1, 10, 0.5, 4, 0.00595, "Basic"},
	{"s-1vcpu-1gb", 1024, 1, 25, 1, 6, 0.00893, "Basic"},
	{"s-1vcpu-1gb-amd", 1024, 1, 25, 1, 7, 0.01042, "Basic AMD"},
	{"s-1vcpu-2gb", 2048, 1, 50, 2, 12, 0.01786, "Basic"},
	{"s-2vcpu-2gb", 2048, 2, 60, 3, 18, 0.02679, "Basic"},
	{"s-2vcpu-4gb", 4096, 2, 80, 4, 24, 0.03571, "Basic"},
	{"s-4vcpu-8gb", 8192, 4, 160, 5, 48, 0.07143, "Basic"},
	{"s-8vcpu-16gb", 16384, 8, 320, 6, 96, 0.14286, "Basic"},
}

// catalog is the immutable region and size data a server answers with; it
// is built per server so no package-level state is mutable.
type catalog struct {
	regions []Region
	sizes   []Size
}

func newCatalog() catalog {
	var c catalog
	all := make([]string, 0, len(regionSlugs))
	for _, r := range regionSlugs {
		all = append(all, r.slug)
	}
	sizeSlugs := make([]string, 0, len(sizeTable))
	for _, s := range sizeTable {
		sizeSlugs = append(sizeSlugs, s.slug)
		c.sizes = append(c.sizes, Size{
			Slug: s.slug, Memory: s.memory, Vcpus: s.vcpus, Disk: s.disk,
			Transfer: s.transfer, PriceMonthly: s.monthly, PriceHourly: s.hourly,
			Regions: append([]string(nil), all...), Available: true, Description: s.desc,
		})
	}
	for _, r := range regionSlugs {
		c.regions = append(c.regions, Region{
			Slug: r.slug, Name: r.name, Available: true,
			Features: []string{"backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"},
			Sizes:    append([]string(nil), sizeSlugs...),
		})
	}
	return c
}

func (c catalog) region(slug string) (Region, bool) {
	for _, r := range c.regions {
		if r.Slug == slug {
			return r, true
		}
	}
	return Region{}, false
}

func (c catalog) size(slug string) (Size, bool) {
	for _, s := range c.sizes {
		if s.Slug == slug {
			return s, true
		}
	}
	return Size{}, false
}
