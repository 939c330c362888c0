#include "mainwindow.h"

#include "activitychart.h"
#include "countsbar.h"
#include "limitspanel.h"
#include "logpane.h"
#include "noticebar.h"
#include "stackpane.h"
#include "statestyle.h"
#include "submission.h"
#include "taskexport.h"
#include "taskfilterproxymodel.h"
#include "taskitemdelegate.h"
#include "tasktablemodel.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSaveFile>
#include <QScopedValueRollback>
#include <QScreen>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QTableView>
#include <QToolBar>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace {

qint64 steadyMs()
{
    static QElapsedTimer clock;
    if (!clock.isValid())
        clock.start();
    return clock.elapsed();
}

QIcon appIcon()
{
    QIcon icon;
    // The SVG when Qt's SVG plugin is there; the PNG renderings of it in any case.
    icon.addFile(QStringLiteral(":/icons/taskdeck.svg"));
    for (int size : {32, 64, 256})
        icon.addFile(QStringLiteral(":/icons/taskdeck-%1.png").arg(size), QSize(size, size));
    return icon;
}

// Local files named by a drag, or none.
QStringList localFiles(const QMimeData *mime)
{
    QStringList files;
    if (!mime || !mime->hasUrls())
        return files;
    for (const QUrl &url : mime->urls())
        if (url.isLocalFile())
            files.append(url.toLocalFile());
    return files;
}

} // namespace

MainWindow::MainWindow(TaskSource *source, QWidget *parent)
    : QMainWindow(parent)
    , m_source(source)
    , m_model(new TaskTableModel(source, this))
    , m_proxy(new TaskFilterProxyModel(this))
    , m_delegate(new TaskItemDelegate(this))
    , m_view(new QTableView(this))
    , m_countsBar(new CountsBar(this))
    , m_chart(new ActivityChart(this))
    , m_stack(new StackPane(source, this))
    , m_log(new LogPane(source, this))
    , m_limits(new LimitsPanel(source, this))
    , m_limitsDock(new QDockWidget(tr("Limits"), this))
    , m_rejectedDock(new QDockWidget(tr("Rejected files"), this))
    , m_rejected(new QListWidget(this))
    , m_splitter(new QSplitter(Qt::Vertical, this))
    , m_bottomSplitter(new QSplitter(Qt::Horizontal, this))
    , m_statusTasks(new QLabel(this))
    , m_statusPaused(new QLabel(this))
    , m_notices(new NoticeBar(this))
{
    setWindowTitle(tr("Taskdeck"));
    setWindowIcon(appIcon());
    setAcceptDrops(true);
    setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowTabbedDocks);

    // The table.
    m_proxy->setSourceModel(m_model);
    m_view->setObjectName(QStringLiteral("taskTable"));
    m_view->setModel(m_proxy);
    m_view->setItemDelegate(m_delegate);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_view->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
    m_view->setWordWrap(false);
    m_view->setShowGrid(false);
    m_view->setAlternatingRowColors(true);
    m_view->setHorizontalScrollMode(QAbstractItemView::ScrollPerPixel);
    m_view->setMouseTracking(true);
    // Rows of one height, and a vertical header that never measures them: 100,000 rows
    // cost nothing until they are scrolled into view.
    m_view->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_view->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 8);
    m_view->verticalHeader()->hide();
    QHeaderView *header = m_view->horizontalHeader();
    header->setSectionsMovable(true);
    header->setHighlightSections(false);
    header->setStretchLastSection(true);
    // Started fits "20 Nov 14:03", a task of an earlier day.
    const int widths[TaskTableModel::ColumnCount] = {52, 140, 76, 60, 180, 120, 60, 96, 70, 160};
    for (int c = 0; c < TaskTableModel::ColumnCount; ++c)
        header->resizeSection(c, widths[c]);
    m_view->setSortingEnabled(true);
    m_view->sortByColumn(TaskTableModel::Id, Qt::AscendingOrder);
    // Dragging pending rows reorders the queue; dropping files is the window's business.
    m_view->setDragEnabled(true);
    m_view->setAcceptDrops(true);
    m_view->setDragDropMode(QAbstractItemView::InternalMove);
    m_view->setDragDropOverwriteMode(true);
    m_view->setDefaultDropAction(Qt::MoveAction);
    m_view->setDropIndicatorShown(true);
    m_view->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_view, &QWidget::customContextMenuRequested, this, [this](const QPoint &pos) {
        updateActions();
        m_contextMenu->popup(m_view->viewport()->mapToGlobal(pos));
    });
    connect(m_delegate, &TaskItemDelegate::cancelClicked, m_source,
            [this](TaskId id) { m_source->cancel(id); });
    connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &MainWindow::onCurrentRowChanged);
    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &MainWindow::updateStatus);

    // Counts and chart above the table, filters, then table over stack and log.
    auto *top = new QWidget(this);
    auto *topLayout = new QHBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    auto *countsAndFilters = new QVBoxLayout;
    countsAndFilters->addWidget(m_countsBar);
    countsAndFilters->addWidget(createFilterBar());
    topLayout->addLayout(countsAndFilters, 3);
    topLayout->addWidget(m_chart, 2);
    m_chart->setSampleIntervalMs(TickMs);

    m_bottomSplitter->setObjectName(QStringLiteral("detailSplitter"));
    m_bottomSplitter->addWidget(m_stack);
    m_bottomSplitter->addWidget(m_log);
    m_bottomSplitter->setStretchFactor(0, 3);
    m_bottomSplitter->setStretchFactor(1, 2);

    m_splitter->setObjectName(QStringLiteral("mainSplitter"));
    m_splitter->addWidget(m_view);
    m_splitter->addWidget(m_bottomSplitter);
    m_splitter->setStretchFactor(0, 3);
    m_splitter->setStretchFactor(1, 2);
    m_splitter->setChildrenCollapsible(false);

    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);
    layout->setContentsMargins(6, 4, 6, 0);
    layout->setSpacing(4);
    layout->addWidget(m_notices);
    layout->addWidget(top);
    layout->addWidget(m_splitter, 1);
    setCentralWidget(central);

    // Docks: the limits editor, and the files that could not be queued.
    m_limitsDock->setObjectName(QStringLiteral("limitsDock"));
    m_limitsDock->setWidget(m_limits);
    addDockWidget(Qt::RightDockWidgetArea, m_limitsDock);
    connect(m_model, &TaskTableModel::groupAdded, m_limits, &LimitsPanel::addGroup);
    connect(m_limits, &LimitsPanel::pausedChanged, this, [this](bool paused) {
        if (m_pauseAction)
            m_pauseAction->setChecked(paused);
        updateStatus();
    });
    connect(m_limits, &LimitsPanel::groupPausedChanged, this, &MainWindow::updateStatus);

    m_rejected->setObjectName(QStringLiteral("rejectedFiles"));
    m_rejected->setAlternatingRowColors(true);
    m_rejected->setWordWrap(true);
    auto *rejectedBox = new QWidget(this);
    auto *rejectedLayout = new QVBoxLayout(rejectedBox);
    rejectedLayout->setContentsMargins(4, 4, 4, 4);
    rejectedLayout->addWidget(m_rejected, 1);
    auto *clearRejected = new QPushButton(tr("Clear list"), rejectedBox);
    rejectedLayout->addWidget(clearRejected, 0, Qt::AlignRight);
    connect(clearRejected, &QPushButton::clicked, m_rejected, &QListWidget::clear);
    m_rejectedDock->setObjectName(QStringLiteral("rejectedFilesDock"));
    m_rejectedDock->setWidget(rejectedBox);
    addDockWidget(Qt::RightDockWidgetArea, m_rejectedDock);
    m_rejectedDock->hide();

    createActions();

    m_statusTasks->setObjectName(QStringLiteral("statusTasks"));
    m_statusPaused->setObjectName(QStringLiteral("statusPaused"));
    statusBar()->addPermanentWidget(m_statusPaused);
    statusBar()->addPermanentWidget(m_statusTasks);
    statusBar()->showMessage(tr("Drop task scripts or folders anywhere on the window, "
                                "or use File > Open (Ctrl+O)"));

    connect(m_source, &TaskSource::batch, this, &MainWindow::applyBatch);
    m_limits->applyLimits(m_source->limits()); // the source's first batch may be on its way
    m_tick.setInterval(TickMs);
    connect(&m_tick, &QTimer::timeout, this, &MainWindow::tick);
    m_tick.start();
    // Files dropped on any child (the table, the panes, the filter box) land here.
    qApp->installEventFilter(this);
    updateStatus();
    updateStoreProblem();
    resizeDocks({m_limitsDock}, {330}, Qt::Horizontal);
    QSize size(1600, 1000);
    if (const QScreen *screen = QGuiApplication::primaryScreen())
        size = size.boundedTo(screen->availableSize());
    resize(size);
}

MainWindow::~MainWindow()
{
    qApp->removeEventFilter(this);
}

QWidget *MainWindow::createFilterBar()
{
    auto *bar = new QWidget(this);
    auto *layout = new QHBoxLayout(bar);
    layout->setContentsMargins(0, 0, 0, 0);
    m_filterText = new QLineEdit(bar);
    m_filterText->setObjectName(QStringLiteral("filterText"));
    m_filterText->setPlaceholderText(
        tr("Filter by id, name, group, file, result or error (Ctrl+F)"));
    m_filterText->setClearButtonEnabled(true);
    m_filterState = new QComboBox(bar);
    m_filterState->setObjectName(QStringLiteral("filterState"));
    using F = TaskFilterProxyModel::StateFilter;
    const std::pair<QString, F> states[] = {
        {tr("All states"), F::All},      {tr("Active"), F::Active},
        {tr("Pending"), F::Pending},     {tr("Running"), F::Running},
        {tr("Failed"), F::Failed},       {tr("Succeeded"), F::Succeeded},
        {tr("Cancelled"), F::Cancelled}, {tr("Interrupted"), F::Interrupted},
        {tr("Finished"), F::Finished},
    };
    for (const auto &[label, filter] : states)
        m_filterState->addItem(label, int(filter));
    m_filterGroup = new QComboBox(bar);
    m_filterGroup->setObjectName(QStringLiteral("filterGroup"));
    m_filterGroup->addItem(tr("All groups"), QString());
    m_filterGroup->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    layout->addWidget(m_filterText, 1);
    layout->addWidget(m_filterState);
    layout->addWidget(m_filterGroup);

    connect(m_filterText, &QLineEdit::textChanged, m_proxy, &TaskFilterProxyModel::setText);
    connect(m_filterState, &QComboBox::currentIndexChanged, this, [this](int i) {
        m_proxy->setStateFilter(
            TaskFilterProxyModel::StateFilter(m_filterState->itemData(i).toInt()));
        updateStatus();
    });
    connect(m_filterGroup, &QComboBox::currentIndexChanged, this, [this](int i) {
        m_proxy->setGroup(m_filterGroup->itemData(i).toString());
        updateStatus();
    });
    connect(m_filterText, &QLineEdit::textChanged, this, &MainWindow::updateStatus);
    connect(m_model, &TaskTableModel::groupAdded, this, [this](const QString &group) {
        int at = 1;
        while (at < m_filterGroup->count() && m_filterGroup->itemText(at) < group)
            ++at;
        m_filterGroup->insertItem(at, group, group);
    });
    return bar;
}

void MainWindow::createActions()
{
    QStyle *s = style();
    const auto add = [this](QMenu *menu, const QString &text, const QString &name,
                            const QKeySequence &key, const QIcon &icon, auto slot) {
        auto *action = new QAction(icon, text, this);
        action->setObjectName(name);
        if (!key.isEmpty()) {
            action->setShortcut(key);
            action->setToolTip(QStringLiteral("%1 (%2)").arg(
                QString(text).remove(u'&'), key.toString(QKeySequence::NativeText)));
        }
        connect(action, &QAction::triggered, this, slot);
        menu->addAction(action);
        return action;
    };

    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *open =
        add(file, tr("&Open scripts…"), QStringLiteral("actionOpen"), QKeySequence::Open,
            s->standardIcon(QStyle::SP_DialogOpenButton), &MainWindow::openFiles);
    add(file, tr("Open &folder…"), QStringLiteral("actionOpenFolder"),
        QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O), s->standardIcon(QStyle::SP_DirOpenIcon),
        &MainWindow::openFolder);
    QAction *exportTasks = add(
        file, tr("&Export…"), QStringLiteral("actionExport"), QKeySequence(Qt::CTRL | Qt::Key_E),
        s->standardIcon(QStyle::SP_DialogSaveButton), &MainWindow::exportWithDialog);
    exportTasks->setStatusTip(tr("Write the selected tasks, or all shown, as JSON lines or CSV"));
    file->addSeparator();
    add(file, tr("&Quit"), QStringLiteral("actionQuit"), QKeySequence(Qt::CTRL | Qt::Key_Q),
        QIcon(), &QWidget::close);

    QMenu *tasks = menuBar()->addMenu(tr("&Tasks"));
    QAction *cancel = add(
        tasks, tr("&Cancel selected"), QStringLiteral("actionCancel"), QKeySequence(Qt::Key_Delete),
        s->standardIcon(QStyle::SP_DialogCancelButton), &MainWindow::cancelSelected);
    QAction *cancelPending =
        add(tasks, tr("Cancel all &pending"), QStringLiteral("actionCancelPending"),
            QKeySequence(Qt::SHIFT | Qt::Key_Delete),
            s->standardIcon(QStyle::SP_DialogDiscardButton), &MainWindow::cancelAllPending);
    add(tasks, tr("Cancel &all"), QStringLiteral("actionCancelAll"),
        QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Delete), QIcon(), &MainWindow::cancelAll);
    tasks->addSeparator();
    QAction *top = add(tasks, tr("Move to &top"), QStringLiteral("actionMoveToTop"),
                       QKeySequence(Qt::CTRL | Qt::Key_Home), s->standardIcon(QStyle::SP_ArrowUp),
                       &MainWindow::moveSelectedToTop);
    QAction *bottom = add(tasks, tr("Move to &bottom"), QStringLiteral("actionMoveToBottom"),
                          QKeySequence(Qt::CTRL | Qt::Key_End),
                          s->standardIcon(QStyle::SP_ArrowDown), &MainWindow::moveSelectedToBottom);
    add(tasks, tr("&Raise priority"), QStringLiteral("actionRaisePriority"),
        QKeySequence(Qt::CTRL | Qt::Key_Up), QIcon(), &MainWindow::raiseSelectedPriority);
    add(tasks, tr("&Lower priority"), QStringLiteral("actionLowerPriority"),
        QKeySequence(Qt::CTRL | Qt::Key_Down), QIcon(), &MainWindow::lowerSelectedPriority);
    add(tasks, tr("&Edit priority"), QStringLiteral("actionEditPriority"), QKeySequence(Qt::Key_F2),
        QIcon(), &MainWindow::editPriority);
    tasks->addSeparator();
    QAction *retry = add(tasks, tr("Re&try failed"), QStringLiteral("actionRetryFailed"),
                         QKeySequence(Qt::CTRL | Qt::Key_R),
                         s->standardIcon(QStyle::SP_BrowserReload), &MainWindow::retryFailed);
    retry->setStatusTip(tr("Read the failed tasks' scripts again and run them in their place"));
    m_rerunAction = add(tasks, tr("Re-r&un"), QStringLiteral("actionRerun"),
                        QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R),
                        s->standardIcon(QStyle::SP_MediaPlay), &MainWindow::rerunSelected);
    m_rerunAction->setStatusTip(tr("Run the selected finished tasks again as new tasks, "
                                   "with the same definition"));
    QAction *clear = add(tasks, tr("Clear &finished"), QStringLiteral("actionClearFinished"),
                         QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_L),
                         s->standardIcon(QStyle::SP_DialogResetButton), &MainWindow::clearFinished);

    QMenu *queue = menuBar()->addMenu(tr("&Queue"));
    m_pauseAction = new QAction(s->standardIcon(QStyle::SP_MediaPause), tr("&Pause queue"), this);
    m_pauseAction->setObjectName(QStringLiteral("actionPause"));
    m_pauseAction->setCheckable(true);
    m_pauseAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
    m_pauseAction->setToolTip(tr("Pause or resume the queue (Ctrl+P): running tasks go on"));
    connect(m_pauseAction, &QAction::toggled, this, &MainWindow::setPaused);
    queue->addAction(m_pauseAction);
    QAction *limits = m_limitsDock->toggleViewAction();
    limits->setText(tr("&Limits"));
    limits->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    queue->addAction(limits);

    QMenu *view = menuBar()->addMenu(tr("&View"));
    add(view, tr("&Filter"), QStringLiteral("actionFilter"), QKeySequence::Find, QIcon(), [this] {
        m_filterText->setFocus();
        m_filterText->selectAll();
    });
    add(view, tr("Show &table"), QStringLiteral("actionFocusTable"),
        QKeySequence(Qt::CTRL | Qt::Key_1), QIcon(), [this] { m_view->setFocus(); });
    add(view, tr("Show &stack"), QStringLiteral("actionFocusStack"),
        QKeySequence(Qt::CTRL | Qt::Key_2), QIcon(), [this] { m_stack->tree()->setFocus(); });
    add(view, tr("Show l&og"), QStringLiteral("actionFocusLog"), QKeySequence(Qt::CTRL | Qt::Key_3),
        QIcon(), [this] { m_log->view()->setFocus(); });
    QAction *rejected = m_rejectedDock->toggleViewAction();
    rejected->setText(tr("&Rejected files"));
    rejected->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_J));
    view->addAction(rejected);

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    add(help, tr("&Keyboard shortcuts"), QStringLiteral("actionShortcuts"),
        QKeySequence::HelpContents, QIcon(), [this] {
            QStringList lines;
            for (QAction *a : findChildren<QAction *>())
                if (!a->shortcut().isEmpty() && !a->text().isEmpty())
                    lines.append(QStringLiteral("%1\t%2").arg(
                        a->shortcut().toString(QKeySequence::NativeText),
                        QString(a->text()).remove(u'&').remove(u'…')));
            lines.sort();
            QMessageBox::information(this, tr("Keyboard shortcuts"), lines.join(u'\n'));
        });
    add(help, tr("&About Taskdeck"), QStringLiteral("actionAbout"), QKeySequence(), QIcon(),
        [this] {
            QMessageBox::about(this, tr("About Taskdeck"),
                               tr("<b>Taskdeck %1</b><p>A task queue and live task monitor.</p>")
                                   .arg(QCoreApplication::applicationVersion()));
        });

    QToolBar *bar = addToolBar(tr("Main"));
    bar->setObjectName(QStringLiteral("mainToolBar"));
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->setIconSize(QSize(16, 16));
    bar->addAction(open);
    bar->addSeparator();
    bar->addAction(cancel);
    bar->addAction(cancelPending);
    bar->addAction(m_pauseAction);
    bar->addSeparator();
    bar->addAction(top);
    bar->addAction(bottom);
    bar->addSeparator();
    bar->addAction(retry);
    bar->addAction(m_rerunAction);
    bar->addAction(clear);

    m_contextMenu = new QMenu(m_view);
    m_contextMenu->setObjectName(QStringLiteral("taskContextMenu"));
    m_contextMenu->addAction(m_rerunAction);
    m_contextMenu->addAction(cancel);
    m_contextMenu->addSeparator();
    m_contextMenu->addAction(top);
    m_contextMenu->addAction(bottom);
    m_contextMenu->addAction(findChild<QAction *>(QStringLiteral("actionEditPriority")));
    m_contextMenu->addSeparator();
    m_contextMenu->addAction(exportTasks);
}

// ---- files ----

int MainWindow::submitFiles(const QStringList &files)
{
    const Submission submission = Submission::load(files);
    submission.queueOn(*m_source);
    const int queued = int(submission.taskCount());
    const QStringList &rejected = submission.rejections();
    reject(rejected);
    if (!files.isEmpty())
        statusBar()->showMessage(rejected.isEmpty()
                                     ? tr("Queued %n task(s)", nullptr, queued)
                                     : tr("Queued %n task(s); %1 file(s) rejected", nullptr, queued)
                                           .arg(rejected.size()),
                                 8000);
    return queued;
}

void MainWindow::reject(const QStringList &reasons)
{
    if (reasons.isEmpty())
        return;
    const QIcon icon = StateStyle::icon(TaskState::Failed);
    for (const QString &reason : reasons) {
        auto *item = new QListWidgetItem(icon, reason, m_rejected);
        item->setToolTip(reason);
    }
    m_rejected->scrollToBottom();
    m_rejectedDock->show();
    m_rejectedDock->raise();
}

void MainWindow::openFiles()
{
    const QStringList files =
        QFileDialog::getOpenFileNames(this, tr("Open task scripts"), QString(),
                                      tr("Task scripts (*.lua *.sh *.py);;All files (*)"));
    submitFiles(files);
}

void MainWindow::openFolder()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a folder of scripts"));
    if (!dir.isEmpty())
        submitFiles({dir});
}

bool MainWindow::handleFileDrag(QEvent *event)
{
    switch (event->type()) {
    case QEvent::DragEnter:
    case QEvent::DragMove: {
        auto *drag = static_cast<QDragMoveEvent *>(event);
        if (localFiles(drag->mimeData()).isEmpty())
            return false;
        drag->setDropAction(Qt::CopyAction);
        drag->accept();
        return true;
    }
    case QEvent::Drop: {
        auto *drop = static_cast<QDropEvent *>(event);
        const QStringList files = localFiles(drop->mimeData());
        if (files.isEmpty())
            return false;
        drop->setDropAction(Qt::CopyAction);
        drop->accept();
        submitFiles(files);
        return true;
    }
    default:
        return false;
    }
}

void MainWindow::dragEnterEvent(QDragEnterEvent *event)
{
    if (!handleFileDrag(event))
        event->ignore();
}

void MainWindow::dragMoveEvent(QDragMoveEvent *event)
{
    if (!handleFileDrag(event))
        event->ignore();
}

void MainWindow::dropEvent(QDropEvent *event)
{
    if (!handleFileDrag(event))
        event->ignore();
}

bool MainWindow::eventFilter(QObject *watched, QEvent *event)
{
    const auto type = event->type();
    if ((type == QEvent::DragEnter || type == QEvent::DragMove || type == QEvent::Drop) &&
        watched != this) {
        auto *widget = qobject_cast<QWidget *>(watched);
        if (widget && widget->window() == this && handleFileDrag(event))
            return true;
    }
    return QMainWindow::eventFilter(watched, event);
}

// ---- the source's batches ----

void MainWindow::applyBatch(const TaskSourceBatch &batch)
{
    if (batch.update.limits)
        m_limits->applyLimits(*batch.update.limits);
    m_log->applyWatched(batch.watched);
    applyUpdate(batch.update);
    m_stack->applyWatched(batch.watched);
}

void MainWindow::applyUpdate(const EngineUpdate &update)
{
    m_counts = update.counts;
    const bool wasEmpty = m_model->rowCount() == 0;
    m_model->applyUpdate(update);
    if (m_followRunning && wasEmpty)
        followRunningTask();
    m_countsBar->setCounts(update.counts, steadyMs());
    m_log->appendLogs(update.logs);
    if (m_limitsDock->isVisible())
        m_limits->updateCounts(m_model->groups());
    updateStatus();
}

void MainWindow::tick()
{
    ++m_ticks;
    updateStoreProblem();
    m_chart->addSample(m_counts);
    m_countsBar->setCounts(m_counts, steadyMs());
    if (m_ticks % 4 == 0) {
        // Durations and cancel countdowns are computed when painted: repaint the visible rows.
        if (m_model->hasLiveRows())
            m_view->viewport()->update();
        if (m_followRunning)
            followRunningTask();
    }
}

void MainWindow::updateStatus()
{
    const int shown = m_proxy->rowCount();
    const int total = m_model->rowCount();
    const int selected = int(m_view->selectionModel()->selectedRows().size());
    QString text = shown == total ? tr("%n task(s)", nullptr, total)
                                  : tr("%1 of %n task(s) shown", nullptr, total).arg(shown);
    if (selected > 1)
        text += tr(", %1 selected").arg(selected);
    if (m_model->queuedCount() > 0)
        text += tr(" (+%1 arriving)").arg(m_model->queuedCount());
    m_statusTasks->setText(text);
    const QStringList groups = m_limits->pausedGroups();
    const QString groupList = groups.join(QStringLiteral(", "));
    QString paused;
    if (m_limits->isPaused())
        paused = groups.isEmpty()
                     ? tr("Queue paused")
                     : tr("Queue paused; group(s) %1 paused", nullptr, int(groups.size()))
                           .arg(groupList);
    else if (!groups.isEmpty())
        paused = tr("Group(s) %1 paused", nullptr, int(groups.size())).arg(groupList);
    m_statusPaused->setText(paused);
    m_statusPaused->setToolTip(groups.isEmpty() ? QString()
                                                : tr("Resume a group in Queue > Limits (Ctrl+L)"));
    updateActions();
}

// Enables what applies to the selection. Called after each batch and selection change, so
// it looks at no more than a few thousand selected rows: past them it enables Re-run, which
// then tells the user if none of the selection had finished.
void MainWindow::updateActions()
{
    if (!m_rerunAction)
        return;
    constexpr int MaxLooked = 2000;
    bool finished = false;
    int looked = 0;
    const QItemSelection selection = m_view->selectionModel()->selection();
    for (const QItemSelectionRange &range : selection) {
        for (int r = range.top(); r <= range.bottom() && !finished; ++r) {
            const QModelIndex index = m_proxy->index(r, TaskTableModel::Id);
            finished = isFinished(TaskState(index.data(TaskTableModel::StateRole).toInt())) ||
                       ++looked >= MaxLooked;
        }
        if (finished)
            break;
    }
    if (selection.isEmpty())
        if (const auto current = currentTask()) {
            const int row = m_model->rowOf(*current);
            finished = row >= 0 && isFinished(m_model->row(row).state);
        }
    m_rerunAction->setEnabled(finished);
}

// ---- selection ----

QList<TaskId> MainWindow::selectedTasks() const
{
    QModelIndexList rows = m_view->selectionModel()->selectedRows(TaskTableModel::Id);
    std::sort(rows.begin(), rows.end(),
              [](const QModelIndex &a, const QModelIndex &b) { return a.row() < b.row(); });
    QList<TaskId> ids;
    ids.reserve(rows.size());
    for (const QModelIndex &index : std::as_const(rows))
        ids.append(index.data(TaskTableModel::IdRole).value<TaskId>());
    if (ids.isEmpty())
        if (const auto current = currentTask())
            ids.append(*current);
    return ids;
}

std::optional<TaskId> MainWindow::currentTask() const
{
    const QModelIndex current = m_view->currentIndex();
    if (!current.isValid())
        return std::nullopt;
    return current.data(TaskTableModel::IdRole).value<TaskId>();
}

bool MainWindow::selectTask(TaskId id)
{
    const int row = m_model->rowOf(id);
    if (row < 0)
        return false;
    const QModelIndex index = m_proxy->mapFromSource(m_model->index(row, TaskTableModel::Name));
    if (!index.isValid())
        return false;
    m_view->selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect |
                                                         QItemSelectionModel::Rows);
    m_view->scrollTo(index);
    return true;
}

// Until the user picks a task, the stack and log panes show a running one: the first
// running row, kept while it runs (checked once a second, and when the first tasks come).
void MainWindow::followRunningTask()
{
    const auto current = currentTask();
    if (current) {
        const int row = m_model->rowOf(*current);
        if (row >= 0 && m_model->row(row).state == TaskState::Running)
            return;
    }
    for (int r = 0; r < m_proxy->rowCount(); ++r) {
        const QModelIndex index = m_proxy->index(r, TaskTableModel::Name);
        if (TaskState(index.data(TaskTableModel::StateRole).toInt()) != TaskState::Running)
            continue;
        const QScopedValueRollback<bool> automatic(m_selectingAutomatically, true);
        m_view->selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect |
                                                             QItemSelectionModel::Rows);
        return;
    }
    if (!current && m_proxy->rowCount() > 0) {
        const QScopedValueRollback<bool> automatic(m_selectingAutomatically, true);
        m_view->selectionModel()->setCurrentIndex(m_proxy->index(0, TaskTableModel::Name),
                                                  QItemSelectionModel::ClearAndSelect |
                                                      QItemSelectionModel::Rows);
    }
}

void MainWindow::onCurrentRowChanged()
{
    if (!m_selectingAutomatically)
        m_followRunning = false;
    const std::optional<TaskId> id = currentTask();
    m_stack->setTask(id);
    m_log->setTask(id);
}

// ---- actions ----

void MainWindow::cancelSelected()
{
    const QList<TaskId> ids = selectedTasks();
    if (!ids.isEmpty())
        m_source->cancel(ids);
}

void MainWindow::cancelAllPending()
{
    m_source->cancelAllPending();
}

void MainWindow::cancelAll()
{
    m_source->cancelAll();
}

void MainWindow::moveSelectedToTop()
{
    // Last first, so that the selection keeps its order at the head of the queue.
    const QList<TaskId> ids = selectedTasks();
    for (auto it = ids.crbegin(); it != ids.crend(); ++it)
        m_source->moveToTop(*it);
}

void MainWindow::moveSelectedToBottom()
{
    for (TaskId id : selectedTasks())
        m_source->moveToBottom(id);
}

void MainWindow::changeSelectedPriority(int delta)
{
    for (TaskId id : selectedTasks()) {
        const int row = m_model->rowOf(id);
        if (row >= 0 && m_model->row(row).state == TaskState::Pending)
            m_model->setData(m_model->index(row, TaskTableModel::Priority),
                             m_model->row(row).priority + delta);
    }
}

void MainWindow::raiseSelectedPriority()
{
    changeSelectedPriority(+1);
}

void MainWindow::lowerSelectedPriority()
{
    changeSelectedPriority(-1);
}

void MainWindow::editPriority()
{
    const QModelIndex current = m_view->currentIndex();
    if (!current.isValid())
        return;
    m_view->edit(current.siblingAtColumn(TaskTableModel::Priority));
}

void MainWindow::retryFailed()
{
    // The failed tasks' scripts are read again (they may have been fixed since) and
    // submitted as new tasks; the failed rows make room for them.
    QList<TaskId> ids;
    QStringList files;
    for (int r = 0; r < m_model->rowCount(); ++r) {
        const TaskTableModel::Row &row = m_model->row(r);
        if (row.state == TaskState::Failed || row.state == TaskState::TimedOut) {
            ids.append(row.id);
            files.append(row.file);
        }
    }
    if (ids.isEmpty()) {
        statusBar()->showMessage(tr("No failed task to retry"), 4000);
        return;
    }
    // A script named by several failed tasks is read once, rejected at most once.
    const Submission submission = Submission::load(files);
    submission.queueOn(*m_source);
    const int queued = int(submission.taskCount());
    const QStringList &rejected = submission.rejections();
    QSet<TaskId> retried;
    for (const Submission::Entry &entry : submission.entries())
        retried.insert(ids[entry.input]);
    m_model->removeTasks(
        [&retried](const TaskTableModel::Row &row) { return retried.contains(row.id); });
    // Replaced, they are not history either.
    forget(QList<TaskId>(retried.cbegin(), retried.cend()));
    reject(rejected);
    statusBar()->showMessage(tr("Retrying %n task(s)", nullptr, queued), 6000);
    updateStatus();
}

QList<TaskId> MainWindow::selectedFinishedTasks() const
{
    QList<TaskId> ids;
    for (TaskId id : selectedTasks()) {
        const int row = m_model->rowOf(id);
        if (row >= 0 && isFinished(m_model->row(row).state))
            ids.append(id);
    }
    return ids;
}

int MainWindow::rerunSelected()
{
    const QList<TaskId> ids = selectedFinishedTasks();
    if (ids.isEmpty()) {
        statusBar()->showMessage(tr("Select finished tasks to re-run them"), 4000);
        return 0;
    }
    m_source->rerun(ids);
    // New tasks of a paused group wait: say so, or the re-run would seem to do nothing.
    QStringList waiting;
    const QStringList paused = m_limits->pausedGroups();
    for (TaskId id : ids) {
        const QString &group = m_model->row(m_model->rowOf(id)).group;
        if (paused.contains(group) && !waiting.contains(group))
            waiting.append(group);
    }
    QString message = tr("Re-running %n task(s) as new tasks", nullptr, int(ids.size()));
    if (m_limits->isPaused())
        message += tr("; the queue is paused: they start when you resume it (Ctrl+P)");
    else if (waiting.size() == 1)
        message += tr("; group %1 is paused: they start when you resume it in Limits (Ctrl+L)")
                       .arg(waiting.constFirst());
    else if (!waiting.isEmpty())
        message += tr("; groups %1 are paused: they start when you resume them in Limits "
                      "(Ctrl+L)")
                       .arg(waiting.join(QStringLiteral(", ")));
    statusBar()->showMessage(message, 10000);
    return int(ids.size());
}

void MainWindow::forget(const QList<TaskId> &ids)
{
    if (!ids.isEmpty())
        m_source->forget(ids);
}

void MainWindow::clearFinished()
{
    QList<TaskId> cleared;
    const int removed = m_model->removeTasks([&cleared](const TaskTableModel::Row &row) {
        if (!isFinished(row.state))
            return false;
        cleared.append(row.id);
        return true;
    });
    forget(cleared);
    statusBar()->showMessage(tr("Cleared %n finished task(s)", nullptr, removed), 4000);
    updateStatus();
}

void MainWindow::updateStoreProblem()
{
    const QString problem = m_source->keepProblem();
    if (problem == m_storeProblem)
        return;
    m_storeProblem = problem;
    const QString key = QString::fromLatin1(storeErrorKey);
    if (problem.isEmpty()) {
        m_notices->clearError(key);
        return;
    }
    m_notices->setError(key, tr("Tasks are not being saved: %1. They run, but what is not "
                                "saved is lost if Taskdeck stops; Taskdeck keeps trying, "
                                "and this goes away once the store writes again.")
                                 .arg(problem));
}

void MainWindow::showNotice(const QString &text)
{
    m_notices->addNotice(text);
}

void MainWindow::setGroupPaused(const QString &group, bool paused)
{
    m_limits->setGroupPaused(group, paused);
    if (paused)
        showLimits();
    updateStatus();
}

void MainWindow::showLimits()
{
    m_limitsDock->show();
    m_limitsDock->raise();
}

// ---- export ----

QList<TaskId> MainWindow::tasksToExport() const
{
    QModelIndexList rows = m_view->selectionModel()->selectedRows(TaskTableModel::Id);
    QList<TaskId> ids;
    if (rows.isEmpty()) {
        ids.reserve(m_proxy->rowCount());
        for (int r = 0; r < m_proxy->rowCount(); ++r)
            ids.append(
                m_proxy->index(r, TaskTableModel::Id).data(TaskTableModel::IdRole).value<TaskId>());
        return ids;
    }
    std::sort(rows.begin(), rows.end(),
              [](const QModelIndex &a, const QModelIndex &b) { return a.row() < b.row(); });
    ids.reserve(rows.size());
    for (const QModelIndex &index : std::as_const(rows))
        ids.append(index.data(TaskTableModel::IdRole).value<TaskId>());
    return ids;
}

// The table keeps too little (no result value, no stack): the tasks are asked of the
// source, and written when it answers.
void MainWindow::exportTasks(const QString &path, ExportDone done)
{
    const TaskExport::Format format =
        TaskExport::formatOf(path).value_or(TaskExport::Format::JsonLines);
    m_source->lookUp(
        tasksToExport(), this,
        [this, path, format, done](const QList<std::optional<TaskSnapshot>> &found) {
            QList<TaskSnapshot> tasks;
            tasks.reserve(found.size());
            for (const std::optional<TaskSnapshot> &task : found)
                if (task)
                    tasks.append(*task);
            QSaveFile file(path);
            if (!file.open(QIODevice::WriteOnly) || !TaskExport::write(file, format, tasks) ||
                !file.commit()) {
                const QString reason = file.errorString();
                statusBar()->showMessage(tr("Cannot export to %1: %2").arg(path, reason), 15000);
                if (done)
                    done(false, reason);
                return;
            }
            m_exportPath = path;
            statusBar()->showMessage(
                tr("Exported %n task(s) to %1", nullptr, int(tasks.size())).arg(path), 8000);
            if (done)
                done(true, QString());
        });
}

void MainWindow::exportWithDialog()
{
    const int count = int(tasksToExport().size());
    if (count == 0) {
        statusBar()->showMessage(tr("No task to export"), 4000);
        return;
    }
    const QString jsonFilter = tr("JSON lines (*.jsonl *.ndjson *.json)");
    const QString csvFilter = tr("CSV (*.csv)");
    QString filter =
        TaskExport::formatOf(m_exportPath) == TaskExport::Format::Csv ? csvFilter : jsonFilter;
    const QString start = m_exportPath.isEmpty()
                              ? QDir::home().filePath(QStringLiteral("taskdeck-tasks.jsonl"))
                              : m_exportPath;
    const bool selected = !m_view->selectionModel()->selectedRows().isEmpty();
    QString path =
        QFileDialog::getSaveFileName(this,
                                     selected ? tr("Export %n selected task(s)", nullptr, count)
                                              : tr("Export %n shown task(s)", nullptr, count),
                                     start, jsonFilter + QStringLiteral(";;") + csvFilter, &filter);
    if (path.isEmpty())
        return;
    // A name without a known suffix gets the one of the chosen filter.
    if (!TaskExport::formatOf(path)) {
        const auto format =
            filter == csvFilter ? TaskExport::Format::Csv : TaskExport::Format::JsonLines;
        path += u'.' + TaskExport::suffix(format);
    }
    exportTasks(path, [this, path](bool written, const QString &error) {
        if (!written)
            QMessageBox::warning(
                this, tr("Export failed"),
                tr("Cannot write %1:\n%2").arg(QDir::toNativeSeparators(path), error));
    });
}

void MainWindow::setPaused(bool paused)
{
    // The limits panel tells the source and shows what it says; the action mirrors it.
    m_limits->setPaused(paused);
    if (m_pauseAction && m_pauseAction->isChecked() != paused)
        m_pauseAction->setChecked(paused);
}

// ---- settings ----

void MainWindow::restoreSettings()
{
    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
    m_splitter->restoreState(settings.value(QStringLiteral("window/splitter")).toByteArray());
    m_bottomSplitter->restoreState(
        settings.value(QStringLiteral("window/detailSplitter")).toByteArray());
    m_view->horizontalHeader()->restoreState(
        settings.value(QStringLiteral("table/header")).toByteArray());
    if (settings.contains(QStringLiteral("limits/maxRunning")))
        m_limits->setMaxRunning(settings.value(QStringLiteral("limits/maxRunning")).toInt());
    settings.beginGroup(QStringLiteral("limits/groups"));
    for (const QString &group : settings.childKeys())
        m_limits->setGroupLimit(QUrl::fromPercentEncoding(group.toUtf8()),
                                settings.value(group).toInt());
    settings.endGroup();
    m_saveOnClose = true;
}

void MainWindow::saveSettings() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    settings.setValue(QStringLiteral("window/splitter"), m_splitter->saveState());
    settings.setValue(QStringLiteral("window/detailSplitter"), m_bottomSplitter->saveState());
    settings.setValue(QStringLiteral("table/header"), m_view->horizontalHeader()->saveState());
    settings.setValue(QStringLiteral("limits/maxRunning"), m_limits->maxRunning());
    settings.remove(QStringLiteral("limits/groups"));
    settings.beginGroup(QStringLiteral("limits/groups"));
    for (const QString &group : m_limits->groups())
        if (const int limit = m_limits->groupLimit(group); limit > 0)
            settings.setValue(QString::fromLatin1(QUrl::toPercentEncoding(group)), limit);
    settings.endGroup();
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    if (m_saveOnClose)
        saveSettings();
    QMainWindow::closeEvent(event);
}
