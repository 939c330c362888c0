#include "limitspanel.h"

#include "statestyle.h"
#include "tasksource.h"

#include <QCheckBox>
#include <QFormLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

LimitsPanel::LimitsPanel(TaskSource *source, QWidget *parent)
    : QWidget(parent)
    , m_source(source)
    , m_maxRunning(new QSpinBox(this))
    , m_paused(new QCheckBox(tr("Pause the queue"), this))
    , m_groups(new QTableWidget(0, 5, this))
{
    m_maxRunning->setObjectName(QStringLiteral("maxRunning"));
    m_maxRunning->setRange(1, 100000);
    m_maxRunning->setValue(EngineLimits().maxRunning);
    m_maxRunning->setToolTip(tr("How many tasks may run at once, all groups together"));
    m_paused->setObjectName(QStringLiteral("pauseQueue"));
    m_paused->setToolTip(tr("Start no new task; running ones go on"));

    m_groups->setObjectName(QStringLiteral("groupLimits"));
    m_groups->setHorizontalHeaderLabels(
        {tr("Group"), tr("Limit"), tr("Paused"), tr("Running"), tr("Pending")});
    m_groups->verticalHeader()->hide();
    m_groups->setSelectionMode(QAbstractItemView::NoSelection);
    m_groups->horizontalHeader()->setSectionResizeMode(NameColumn, QHeaderView::Stretch);
    for (int c = LimitColumn; c <= PendingColumn; ++c)
        m_groups->horizontalHeader()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
    m_groups->horizontalHeader()->setMinimumSectionSize(40);
    setMinimumWidth(260);
    m_groups->setToolTip(tr("Limit 0: the group is bounded only by the global limit"));

    auto *form = new QFormLayout;
    form->addRow(tr("Max running:"), m_maxRunning);
    form->addRow(m_paused);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(form);
    layout->addWidget(new QLabel(tr("Groups:"), this));
    layout->addWidget(m_groups, 1);

    connect(m_maxRunning, &QSpinBox::valueChanged, this, [this](int limit) {
        if (m_source && !m_applying) {
            m_source->setMaxRunning(limit);
            changed();
        }
        Q_EMIT limitsChanged();
    });
    connect(m_paused, &QCheckBox::toggled, this, [this](bool paused) {
        if (m_source && !m_applying) {
            m_source->setPaused(paused);
            changed();
        }
        Q_EMIT pausedChanged(paused);
    });
    addGroup(QStringLiteral("default"));
}

void LimitsPanel::changed()
{
    ++m_unconfirmed;
    m_source->sync(this, [this] { --m_unconfirmed; });
}

// Each change makes the source report its whole state after taking it: what it reported
// before (a batch already on its way) is older than the change and not shown.
void LimitsPanel::applyLimits(const EngineLimits &limits)
{
    if (m_unconfirmed > 0)
        return;
    m_applying = true;
    for (auto it = limits.groupLimits.cbegin(); it != limits.groupLimits.cend(); ++it)
        addGroup(it.key());
    for (const QString &group : limits.pausedGroups)
        addGroup(group);
    if (m_maxRunning->value() != limits.maxRunning)
        m_maxRunning->setValue(limits.maxRunning);
    if (m_paused->isChecked() != limits.paused)
        m_paused->setChecked(limits.paused);
    for (int r = 0; r < m_groups->rowCount(); ++r) {
        const QString group = m_groups->item(r, NameColumn)->text();
        auto *limit = qobject_cast<QSpinBox *>(m_groups->cellWidget(r, LimitColumn));
        if (const int value = limits.groupLimits.value(group, 0); limit->value() != value)
            limit->setValue(value);
        auto *paused = qobject_cast<QCheckBox *>(m_groups->cellWidget(r, PausedColumn));
        if (const bool on = limits.pausedGroups.contains(group); paused->isChecked() != on)
            paused->setChecked(on);
    }
    m_applying = false;
}

int LimitsPanel::maxRunning() const
{
    return m_maxRunning->value();
}

void LimitsPanel::setMaxRunning(int limit)
{
    m_maxRunning->setValue(limit);
}

bool LimitsPanel::isPaused() const
{
    return m_paused->isChecked();
}

void LimitsPanel::setPaused(bool paused)
{
    m_paused->setChecked(paused);
}

int LimitsPanel::rowOf(const QString &group) const
{
    for (int r = 0; r < m_groups->rowCount(); ++r)
        if (m_groups->item(r, NameColumn)->text() == group)
            return r;
    return -1;
}

QStringList LimitsPanel::groups() const
{
    QStringList names;
    for (int r = 0; r < m_groups->rowCount(); ++r)
        names.append(m_groups->item(r, NameColumn)->text());
    return names;
}

void LimitsPanel::addGroup(const QString &group)
{
    if (rowOf(group) >= 0)
        return;
    // Keep the groups sorted by name.
    int row = 0;
    while (row < m_groups->rowCount() && m_groups->item(row, NameColumn)->text() < group)
        ++row;
    m_groups->insertRow(row);
    auto *name = new QTableWidgetItem(group);
    name->setFlags(Qt::ItemIsEnabled);
    m_groups->setItem(row, NameColumn, name);

    auto *limit = new QSpinBox(m_groups);
    limit->setRange(0, 100000);
    limit->setSpecialValueText(tr("none"));
    limit->setFrame(false);
    limit->setMinimumWidth(limit->sizeHint().width() + 12); // room beside the Paused box
    limit->setObjectName(QStringLiteral("limit:") + group);
    m_groups->setCellWidget(row, LimitColumn, limit);
    connect(limit, &QSpinBox::valueChanged, this, [this, group](int value) {
        if (m_source && !m_applying) {
            m_source->setGroupLimit(group, value);
            changed();
        }
        Q_EMIT limitsChanged();
    });

    auto *paused = new QCheckBox(m_groups);
    paused->setObjectName(QStringLiteral("paused:") + group);
    paused->setStyleSheet(QStringLiteral("QCheckBox { margin-left: 12px; }"));
    paused->setToolTip(tr("Pause or resume group %1").arg(group));
    m_groups->setCellWidget(row, PausedColumn, paused);
    connect(paused, &QCheckBox::toggled, this, [this, group](bool on) {
        if (m_source && !m_applying) {
            m_source->setGroupPaused(group, on);
            changed();
        }
        showGroupPaused(group, on);
        Q_EMIT groupPausedChanged(group, on);
        Q_EMIT limitsChanged();
    });
    for (int c : {RunningColumn, PendingColumn}) {
        auto *item = new QTableWidgetItem(QStringLiteral("0"));
        item->setFlags(Qt::ItemIsEnabled);
        item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        m_groups->setItem(row, c, item);
    }
}

int LimitsPanel::groupLimit(const QString &group) const
{
    const int row = rowOf(group);
    return row < 0 ? 0 : qobject_cast<QSpinBox *>(m_groups->cellWidget(row, LimitColumn))->value();
}

void LimitsPanel::setGroupLimit(const QString &group, int limit)
{
    addGroup(group);
    qobject_cast<QSpinBox *>(m_groups->cellWidget(rowOf(group), LimitColumn))->setValue(limit);
}

bool LimitsPanel::isGroupPaused(const QString &group) const
{
    const int row = rowOf(group);
    return row >= 0 &&
           qobject_cast<QCheckBox *>(m_groups->cellWidget(row, PausedColumn))->isChecked();
}

void LimitsPanel::setGroupPaused(const QString &group, bool paused)
{
    addGroup(group);
    qobject_cast<QCheckBox *>(m_groups->cellWidget(rowOf(group), PausedColumn))->setChecked(paused);
}

QStringList LimitsPanel::pausedGroups() const
{
    QStringList names;
    for (int r = 0; r < m_groups->rowCount(); ++r)
        if (qobject_cast<QCheckBox *>(m_groups->cellWidget(r, PausedColumn))->isChecked())
            names.append(m_groups->item(r, NameColumn)->text());
    return names;
}

// A paused group's name in bold, in the colour of a task that needs a decision.
void LimitsPanel::showGroupPaused(const QString &group, bool paused)
{
    const int row = rowOf(group);
    if (row < 0)
        return;
    QTableWidgetItem *name = m_groups->item(row, NameColumn);
    QFont font = name->font();
    font.setBold(paused);
    name->setFont(font);
    if (paused) {
        name->setForeground(StateStyle::color(TaskState::TimedOut, palette()));
        name->setToolTip(
            tr("Group %1 is paused: its tasks wait. Untick \"Paused\" to resume it.").arg(group));
    } else {
        name->setData(Qt::ForegroundRole, QVariant());
        name->setToolTip(QString());
    }
}

void LimitsPanel::updateCounts(const QHash<QString, TaskTableModel::GroupStats> &groups)
{
    for (int r = 0; r < m_groups->rowCount(); ++r) {
        const auto stats = groups.value(m_groups->item(r, NameColumn)->text());
        const QString running = QString::number(stats.running);
        const QString pending = QString::number(stats.pending);
        if (m_groups->item(r, RunningColumn)->text() != running)
            m_groups->item(r, RunningColumn)->setText(running);
        if (m_groups->item(r, PendingColumn)->text() != pending)
            m_groups->item(r, PendingColumn)->setText(pending);
    }
}
