#include "fhirlake/fhir/sample_generator.h"

#include <fmt/format.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string_view>

#include "fhirlake/fhir/date_time.h"

namespace fhirlake::fhir {
namespace fs = std::filesystem;

namespace {

// splitmix64: small, fast and identical on every platform (std distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }
  int64_t Between(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo + 1))); }
  template <typename T, size_t N>
  const T& Pick(const std::array<T, N>& items) { return items[Below(N)]; }

 private:
  uint64_t state_;
};

struct Code {
  std::string_view code, display;
};

constexpr std::array<std::string_view, 16> kFamily = {
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Nguyen"};
constexpr std::array<std::string_view, 12> kGivenMale = {"James", "Robert", "John", "Michael", "David", "William",
                                                         "Richard", "Joseph", "Thomas", "Carlos", "Wei", "Ahmed"};
constexpr std::array<std::string_view, 12> kGivenFemale = {"Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara",
                                                           "Susan", "Jessica", "Sarah", "Maria", "Mei", "Fatima"};
constexpr std::array<std::string_view, 8> kCity = {"Springfield", "Riverside", "Franklin", "Greenville",
                                                   "Bristol", "Clinton", "Fairview", "Salem"};
constexpr std::array<std::string_view, 6> kState = {"MA", "NY", "CA", "TX", "WA", "IL"};
constexpr std::array<Code, 5> kRace = {{{"2106-3", "White"}, {"2054-5", "Black or African American"},
                                        {"2028-9", "Asian"}, {"1002-5", "American Indian or Alaska Native"},
                                        {"2076-8", "Native Hawaiian or Other Pacific Islander"}}};
constexpr std::array<Code, 2> kEthnicity = {{{"2135-2", "Hispanic or Latino"}, {"2186-5", "Not Hispanic or Latino"}}};
constexpr std::array<Code, 4> kEncounterType = {{{"185349003", "Encounter for check up"},
                                                 {"162673000", "General examination of patient"},
                                                 {"50849002", "Emergency room admission"},
                                                 {"185347001", "Encounter for problem"}}};
constexpr std::array<Code, 8> kCondition = {{{"44054006", "Diabetes mellitus type 2"}, {"38341003", "Hypertensive disorder"},
                                             {"195662009", "Acute viral pharyngitis"}, {"10509002", "Acute bronchitis"},
                                             {"40055000", "Chronic sinusitis"}, {"55822004", "Hyperlipidemia"},
                                             {"195967001", "Asthma"}, {"271737000", "Anemia"}}};
struct Vital {
  std::string_view loinc, display, unit, ucum;
  int lo, hi, decimals;
};
constexpr std::array<Vital, 5> kVitals = {{{"8867-4", "Heart rate", "/min", "/min", 50, 110, 0},
                                           {"8310-5", "Body temperature", "Cel", "Cel", 35, 39, 2},
                                           {"29463-7", "Body weight", "kg", "kg", 40, 130, 1},
                                           {"8302-2", "Body height", "cm", "cm", 145, 200, 1},
                                           {"39156-5", "Body mass index", "kg/m2", "kg/m2", 17, 40, 2}}};
constexpr std::array<Code, 3> kSmoking = {{{"266919005", "Never smoker"}, {"8517006", "Ex-smoker"},
                                           {"449868002", "Smokes tobacco daily"}}};
constexpr std::array<Code, 6> kMedication = {{{"860975", "metformin 500 MG Oral Tablet"},
                                              {"197361", "amlodipine 5 MG Oral Tablet"},
                                              {"314076", "lisinopril 10 MG Oral Tablet"},
                                              {"617314", "atorvastatin 10 MG Oral Tablet"},
                                              {"308182", "amoxicillin 250 MG Oral Capsule"},
                                              {"745679", "albuterol 90 MCG/ACTUAT Inhaler"}}};
constexpr std::array<Code, 4> kProcedure = {{{"430193006", "Medication reconciliation"},
                                             {"710824005", "Assessment of health and social care needs"},
                                             {"171207006", "Depression screening"},
                                             {"73761001", "Colonoscopy"}}};
constexpr std::array<Code, 4> kVaccine = {{{"140", "Influenza, seasonal, injectable, preservative free"},
                                           {"208", "SARS-COV-2 (COVID-19) vaccine, mRNA"},
                                           {"113", "Td (adult) preservative free"},
                                           {"133", "Pneumococcal conjugate PCV 13"}}};

constexpr int64_t kDataStart = 1609459200;  // 2021-01-01T00:00:00Z
constexpr int64_t kDataSpan = 4 * 365 * 86400;

std::string Instant(int64_t seconds) { return FormatInstant(seconds * 1'000'000); }
std::string Date(int64_t seconds) { return FormatInstant(seconds * 1'000'000).substr(0, 10); }

// Buffered writer of one resource type, rolling over to a new file every N resources.
class TypeWriter {
 public:
  TypeWriter(fs::path dir, std::string type, uint64_t per_file, SampleSummary& summary)
      : dir_(std::move(dir)), type_(std::move(type)), per_file_(per_file), summary_(summary) {
    buf_.reserve(kFlushAt + (64u << 10));
  }
  // Reached with the file open only on a path that already failed; that error is the one reported.
  ~TypeWriter() { (void)Close(); }

  fmt::memory_buffer& Begin() { return line_; }
  Status End() {
    if (count_in_file_ == per_file_) FHIRLAKE_RETURN_IF_ERROR(Close());
    if (!file_) {
      fs::path path = dir_ / fmt::format("{}.{:03d}.ndjson", type_, file_index_++);
      file_.reset(std::fopen(path.c_str(), "wb"));
      if (!file_) return IoError("cannot create " + path.string());
      ++summary_.files;
      count_in_file_ = 0;
    }
    buf_.append(line_.data(), line_.data() + line_.size());
    buf_.push_back('\n');
    summary_.bytes += line_.size() + 1;
    line_.clear();
    ++count_in_file_;
    ++summary_.resources[type_];
    if (buf_.size() >= kFlushAt) return Flush();
    return Status::Ok();
  }
  Status Close() {
    FHIRLAKE_RETURN_IF_ERROR(Flush());
    if (file_ && std::fclose(file_.release()) != 0) return IoError("cannot write " + type_ + " files");
    return Status::Ok();
  }

 private:
  static constexpr size_t kFlushAt = 4u << 20;
  Status Flush() {
    if (buf_.size() == 0) return Status::Ok();
    if (!file_ || std::fwrite(buf_.data(), 1, buf_.size(), file_.get()) != buf_.size()) {
      return IoError("cannot write " + type_ + " files in " + dir_.string());
    }
    buf_.clear();
    return Status::Ok();
  }
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  fs::path dir_;
  std::string type_;
  uint64_t per_file_;
  SampleSummary& summary_;
  std::unique_ptr<std::FILE, Closer> file_;
  int file_index_ = 0;
  uint64_t count_in_file_ = 0;
  fmt::memory_buffer line_;
  fmt::memory_buffer buf_;
};

// A decimal with exactly `decimals` digits after the point, as text ("72.50").
std::string Decimal(Rng& rng, int lo, int hi, int decimals) {
  int64_t scale = decimals == 0 ? 1 : decimals == 1 ? 10 : 100;
  int64_t v = rng.Between(lo * scale, hi * scale);
  if (decimals == 0) return std::to_string(v);
  return fmt::format("{}.{:0{}d}", v / scale, v % scale, decimals);
}

class Generator {
 public:
  Generator(const fs::path& dir, const SampleOptions& o, SampleSummary& s)
      : o_(o), rng_(o.seed), practitioners_(std::max<uint64_t>(1, o.patients / 50)),
        organizations_(std::max<uint64_t>(1, o.patients / 200)),
        patient_(dir, "Patient", o.resources_per_file, s), encounter_(dir, "Encounter", o.resources_per_file, s),
        condition_(dir, "Condition", o.resources_per_file, s), observation_(dir, "Observation", o.resources_per_file, s),
        medication_(dir, "MedicationRequest", o.resources_per_file, s), procedure_(dir, "Procedure", o.resources_per_file, s),
        immunization_(dir, "Immunization", o.resources_per_file, s), practitioner_(dir, "Practitioner", o.resources_per_file, s),
        organization_(dir, "Organization", o.resources_per_file, s) {}

  Status Run() {
    for (uint64_t i = 0; i < organizations_; ++i) FHIRLAKE_RETURN_IF_ERROR(Organization(i));
    for (uint64_t i = 0; i < practitioners_; ++i) FHIRLAKE_RETURN_IF_ERROR(Practitioner(i));
    for (uint64_t i = 0; i < o_.patients; ++i) FHIRLAKE_RETURN_IF_ERROR(PatientRecord(i));
    for (TypeWriter* w : {&patient_, &encounter_, &condition_, &observation_, &medication_, &procedure_,
                          &immunization_, &practitioner_, &organization_}) {
      FHIRLAKE_RETURN_IF_ERROR(w->Close());
    }
    return Status::Ok();
  }

 private:
  int64_t Updated() { return kDataStart + rng_.Between(0, kDataSpan); }
  std::string OrgRef() { return fmt::format("Organization/org-{}", rng_.Below(organizations_)); }
  std::string PracRef() { return fmt::format("Practitioner/prac-{}", rng_.Below(practitioners_)); }

  Status Organization(uint64_t i) {
    const std::string updated = Instant(Updated());
    const std::string_view city = rng_.Pick(kCity);
    const uint64_t phone = rng_.Below(10000);
    const int64_t street = rng_.Between(1, 999);
    const std::string_view state = rng_.Pick(kState);
    const uint64_t zip = rng_.Below(100000);
    auto& b = organization_.Begin();
    fmt::format_to(std::back_inserter(b),
                   R"({{"resourceType":"Organization","id":"org-{0}","meta":{{"lastUpdated":"{1}"}},"identifier":[{{"system":"http://hl7.org/fhir/sid/us-npi","value":"{2}"}}],"active":true,"type":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/organization-type","code":"prov","display":"Healthcare Provider"}}]}}],"name":"{3} General Hospital","telecom":[{{"system":"phone","value":"555-{4:04d}"}}],"address":[{{"line":["{5} Hospital Road"],"city":"{3}","state":"{6}","postalCode":"{7:05d}","country":"US"}}]}})",
                   i, updated, 1000000000 + i, city, phone, street, state, zip);
    return organization_.End();
  }

  Status Practitioner(uint64_t i) {
    const bool female = rng_.Below(2);
    const std::string updated = Instant(Updated());
    const std::string_view family = rng_.Pick(kFamily);
    const std::string_view given = female ? rng_.Pick(kGivenFemale) : rng_.Pick(kGivenMale);
    auto& b = practitioner_.Begin();
    fmt::format_to(std::back_inserter(b),
                   R"({{"resourceType":"Practitioner","id":"prac-{0}","meta":{{"lastUpdated":"{1}"}},"identifier":[{{"system":"http://hl7.org/fhir/sid/us-npi","value":"{2}"}}],"active":true,"name":[{{"family":"{3}","given":["{4}"],"prefix":["Dr."]}}],"gender":"{5}"}})",
                   i, updated, 2000000000 + i, family, given, female ? "female" : "male");
    return practitioner_.End();
  }

  Status PatientRecord(uint64_t n) {
    const std::string pid = fmt::format("pat-{}", n);
    const bool female = rng_.Below(2);
    const int64_t birth = -946684800 + rng_.Between(0, 80LL * 365 * 86400);  // 1940..2020
    const Code& race = rng_.Pick(kRace);
    const Code& eth = rng_.Pick(kEthnicity);
    const std::string family(rng_.Pick(kFamily));
    {
      const std::string updated = Instant(Updated());
      const std::string_view given1 = female ? rng_.Pick(kGivenFemale) : rng_.Pick(kGivenMale);
      const std::string_view given2 = female ? rng_.Pick(kGivenFemale) : rng_.Pick(kGivenMale);
      const uint64_t phone = rng_.Below(10000);
      const std::string birth_time = Instant(birth + rng_.Between(0, 86399));
      const int64_t house = rng_.Between(1, 9999);
      const std::string_view street = rng_.Pick(kFamily);
      const std::string_view city = rng_.Pick(kCity);
      const std::string_view state = rng_.Pick(kState);
      const uint64_t zip = rng_.Below(100000);
      const char* marital = rng_.Below(2) ? "M" : "S";
      const std::string gp = PracRef();
      const std::string org = OrgRef();
      auto& b = patient_.Begin();
      fmt::format_to(std::back_inserter(b),
                     R"({{"resourceType":"Patient","id":"{0}","meta":{{"lastUpdated":"{1}"}},"extension":[{{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[{{"url":"ombCategory","valueCoding":{{"system":"urn:oid:2.16.840.1.113883.6.238","code":"{2}","display":"{3}"}}}},{{"url":"text","valueString":"{3}"}}]}},{{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity","extension":[{{"url":"ombCategory","valueCoding":{{"system":"urn:oid:2.16.840.1.113883.6.238","code":"{4}","display":"{5}"}}}},{{"url":"text","valueString":"{5}"}}]}}],"identifier":[{{"use":"usual","type":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}}]}},"system":"http://hospital.example.org/mrn","value":"MRN{6:08d}"}}],"active":true,"name":[{{"use":"official","family":"{7}","given":["{8}","{9}"]}}],"telecom":[{{"system":"phone","value":"555-{10:04d}","use":"home"}}],"gender":"{11}","birthDate":"{12}","_birthDate":{{"extension":[{{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"{13}"}}]}},"address":[{{"line":["{14} {15} Street"],"city":"{16}","state":"{17}","postalCode":"{18:05d}","country":"US"}}],"maritalStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"{19}"}}]}},"generalPractitioner":[{{"reference":"{20}"}}],"managingOrganization":{{"reference":"{21}"}}}})",
                     pid, updated, race.code, race.display, eth.code, eth.display, n, family, given1, given2, phone,
                     female ? "female" : "male", Date(birth), birth_time, house, street, city, state, zip, marital,
                     gp, org);
      FHIRLAKE_RETURN_IF_ERROR(patient_.End());
    }
    const int encounters = static_cast<int>(rng_.Between(2, 8));
    for (int e = 0; e < encounters; ++e) {
      const std::string eid = fmt::format("enc-{}-{}", n, e);
      const int64_t start = kDataStart - 2 * 365 * 86400 + rng_.Between(0, 6LL * 365 * 86400);
      const int64_t end = start + rng_.Between(900, 4 * 3600);
      const Code& type = rng_.Pick(kEncounterType);
      const bool emergency = type.code == "50849002";
      const std::string prac = PracRef();
      {
        const std::string updated = Instant(Updated());
        const std::string org = OrgRef();
        auto& b = encounter_.Begin();
        fmt::format_to(std::back_inserter(b),
                       R"({{"resourceType":"Encounter","id":"{0}","meta":{{"lastUpdated":"{1}"}},"status":"finished","class":{{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"{2}","display":"{3}"}},"type":[{{"coding":[{{"system":"http://snomed.info/sct","code":"{4}","display":"{5}"}}],"text":"{5}"}}],"subject":{{"reference":"Patient/{6}"}},"participant":[{{"individual":{{"reference":"{7}"}}}}],"period":{{"start":"{8}","end":"{9}"}},"serviceProvider":{{"reference":"{10}"}}}})",
                       eid, updated, emergency ? "EMER" : "AMB", emergency ? "emergency" : "ambulatory",
                       type.code, type.display, pid, prac, Instant(start), Instant(end), org);
        FHIRLAKE_RETURN_IF_ERROR(encounter_.End());
      }
      if (rng_.Below(3) == 0) FHIRLAKE_RETURN_IF_ERROR(Condition(pid, eid, start));
      FHIRLAKE_RETURN_IF_ERROR(Observations(pid, eid, start));
      if (rng_.Below(3) == 0) FHIRLAKE_RETURN_IF_ERROR(Medication(pid, eid, prac, start));
      if (rng_.Below(4) == 0) FHIRLAKE_RETURN_IF_ERROR(Procedure(pid, eid, start));
      if (rng_.Below(4) == 0) FHIRLAKE_RETURN_IF_ERROR(Immunization(pid, eid, start));
    }
    return Status::Ok();
  }

  Status Condition(const std::string& pid, const std::string& eid, int64_t when) {
    const Code& c = rng_.Pick(kCondition);
    const bool active = rng_.Below(2);
    const std::string updated = Instant(Updated());
    auto& b = condition_.Begin();
    fmt::format_to(std::back_inserter(b),
                   R"({{"resourceType":"Condition","id":"cond-{0}","meta":{{"lastUpdated":"{1}"}},"clinicalStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"{2}"}}]}},"verificationStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed"}}]}},"category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"encounter-diagnosis"}}]}}],"code":{{"coding":[{{"system":"http://snomed.info/sct","code":"{3}","display":"{4}"}}],"text":"{4}"}},"subject":{{"reference":"Patient/{5}"}},"encounter":{{"reference":"Encounter/{6}"}},"onsetDateTime":"{7}","recordedDate":"{8}"}})",
                   eid, updated, active ? "active" : "resolved", c.code, c.display, pid, eid,
                   Instant(when), Date(when));
    return condition_.End();
  }

  Status Observations(const std::string& pid, const std::string& eid, int64_t when) {
    int k = 0;
    const std::string at = Instant(when);
    for (const Vital& v : kVitals) {
      if (rng_.Below(3) == 0) continue;
      const std::string updated = Instant(Updated());
      const std::string value = Decimal(rng_, v.lo, v.hi, v.decimals);
      auto& b = observation_.Begin();
      fmt::format_to(std::back_inserter(b),
                     R"({{"resourceType":"Observation","id":"obs-{0}-{1}","meta":{{"lastUpdated":"{2}"}},"status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}}]}}],"code":{{"coding":[{{"system":"http://loinc.org","code":"{3}","display":"{4}"}}],"text":"{4}"}},"subject":{{"reference":"Patient/{5}"}},"encounter":{{"reference":"Encounter/{0}"}},"effectiveDateTime":"{6}","issued":"{6}","valueQuantity":{{"value":{7},"unit":"{8}","system":"http://unitsofmeasure.org","code":"{9}"}}}})",
                     eid, k++, updated, v.loinc, v.display, pid, at, value, v.unit, v.ucum);
      FHIRLAKE_RETURN_IF_ERROR(observation_.End());
    }
    {
      const std::string updated = Instant(Updated());
      const int64_t systolic = rng_.Between(95, 170);
      const int64_t diastolic = rng_.Between(55, 105);
      auto& b = observation_.Begin();
      fmt::format_to(std::back_inserter(b),
                     R"({{"resourceType":"Observation","id":"obs-{0}-{1}","meta":{{"lastUpdated":"{2}"}},"status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}}]}}],"code":{{"coding":[{{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure panel with all children optional"}}]}},"subject":{{"reference":"Patient/{3}"}},"encounter":{{"reference":"Encounter/{0}"}},"effectiveDateTime":"{4}","component":[{{"code":{{"coding":[{{"system":"http://loinc.org","code":"8480-6","display":"Systolic blood pressure"}}]}},"valueQuantity":{{"value":{5},"unit":"mm[Hg]","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}}},{{"code":{{"coding":[{{"system":"http://loinc.org","code":"8462-4","display":"Diastolic blood pressure"}}]}},"valueQuantity":{{"value":{6},"unit":"mm[Hg]","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}}}]}})",
                     eid, k++, updated, pid, at, systolic, diastolic);
      FHIRLAKE_RETURN_IF_ERROR(observation_.End());
    }
    if (rng_.Below(4) == 0) {
      const Code& s = rng_.Pick(kSmoking);
      const std::string updated = Instant(Updated());
      auto& b = observation_.Begin();
      fmt::format_to(std::back_inserter(b),
                     R"({{"resourceType":"Observation","id":"obs-{0}-{1}","meta":{{"lastUpdated":"{2}"}},"status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"social-history"}}]}}],"code":{{"coding":[{{"system":"http://loinc.org","code":"72166-2","display":"Tobacco smoking status"}}]}},"subject":{{"reference":"Patient/{3}"}},"encounter":{{"reference":"Encounter/{0}"}},"effectiveDateTime":"{4}","valueCodeableConcept":{{"coding":[{{"system":"http://snomed.info/sct","code":"{5}","display":"{6}"}}],"text":"{6}"}}}})",
                     eid, k++, updated, pid, at, s.code, s.display);
      FHIRLAKE_RETURN_IF_ERROR(observation_.End());
    }
    return Status::Ok();
  }

  Status Medication(const std::string& pid, const std::string& eid, const std::string& prac, int64_t when) {
    const Code& m = rng_.Pick(kMedication);
    const std::string updated = Instant(Updated());
    const char* status = rng_.Below(3) ? "active" : "completed";
    const int64_t dose = rng_.Between(1, 2);
    const int64_t per_day = rng_.Between(1, 3);
    auto& b = medication_.Begin();
    fmt::format_to(std::back_inserter(b),
                   R"({{"resourceType":"MedicationRequest","id":"med-{0}","meta":{{"lastUpdated":"{1}"}},"status":"{2}","intent":"order","medicationCodeableConcept":{{"coding":[{{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"{3}","display":"{4}"}}],"text":"{4}"}},"subject":{{"reference":"Patient/{5}"}},"encounter":{{"reference":"Encounter/{0}"}},"authoredOn":"{6}","requester":{{"reference":"{7}"}},"dosageInstruction":[{{"sequence":1,"text":"Take {8} tablet(s) {9} times daily","timing":{{"repeat":{{"frequency":{9},"period":1,"periodUnit":"d"}}}},"doseAndRate":[{{"doseQuantity":{{"value":{8},"unit":"tablet"}}}}]}}]}})",
                   eid, updated, status, m.code, m.display, pid, Instant(when), prac, dose, per_day);
    return medication_.End();
  }

  Status Procedure(const std::string& pid, const std::string& eid, int64_t when) {
    const Code& p = rng_.Pick(kProcedure);
    const std::string updated = Instant(Updated());
    auto& b = procedure_.Begin();
    fmt::format_to(std::back_inserter(b),
                   R"({{"resourceType":"Procedure","id":"proc-{0}","meta":{{"lastUpdated":"{1}"}},"status":"completed","code":{{"coding":[{{"system":"http://snomed.info/sct","code":"{2}","display":"{3}"}}],"text":"{3}"}},"subject":{{"reference":"Patient/{4}"}},"encounter":{{"reference":"Encounter/{0}"}},"performedPeriod":{{"start":"{5}","end":"{6}"}}}})",
                   eid, updated, p.code, p.display, pid, Instant(when), Instant(when + 1800));
    return procedure_.End();
  }

  Status Immunization(const std::string& pid, const std::string& eid, int64_t when) {
    const Code& v = rng_.Pick(kVaccine);
    const std::string updated = Instant(Updated());
    const uint64_t lot = rng_.Below(1000000);
    auto& b = immunization_.Begin();
    fmt::format_to(std::back_inserter(b),
                   R"({{"resourceType":"Immunization","id":"imm-{0}","meta":{{"lastUpdated":"{1}"}},"status":"completed","vaccineCode":{{"coding":[{{"system":"http://hl7.org/fhir/sid/cvx","code":"{2}","display":"{3}"}}],"text":"{3}"}},"patient":{{"reference":"Patient/{4}"}},"encounter":{{"reference":"Encounter/{0}"}},"occurrenceDateTime":"{5}","primarySource":true,"lotNumber":"LOT{6:06d}"}})",
                   eid, updated, v.code, v.display, pid, Instant(when), lot);
    return immunization_.End();
  }

  SampleOptions o_;
  Rng rng_;
  uint64_t practitioners_, organizations_;
  TypeWriter patient_, encounter_, condition_, observation_, medication_, procedure_, immunization_,
      practitioner_, organization_;
};

}  // namespace

Result<SampleSummary> GenerateSample(const fs::path& out_dir, const SampleOptions& options) {
  if (options.resources_per_file == 0) return InvalidArgument("resources per file must be at least 1");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return IoError("cannot create " + out_dir.string() + ": " + ec.message());
  SampleSummary summary;
  Generator g(out_dir, options, summary);
  FHIRLAKE_RETURN_IF_ERROR(g.Run());
  return summary;
}

}  // namespace fhirlake::fhir
